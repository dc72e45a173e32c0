// Package testutil holds what Sluice's tests share: the gate for privileged tests and helpers
// that build network namespaces and veth pairs and remove them again, also when a test fails.
//
// Privileged tests are named TestPrivileged* and start with RequirePrivileged(t). They run only
// when SLUICE_PRIVILEGED_TESTS=1 (make test sets it when it runs as root); with the variable set
// but without root they fail at once instead of skipping, so a misconfigured CI run cannot pass
// by testing nothing.
//
// Namespaces are never entered on a long-lived goroutine: NetNS.Do runs a function on a fresh
// goroutine locked to its OS thread, switches that thread into the namespace, and lets the thread
// die afterwards (runtime.LockOSThread without Unlock), so no goroutine can inherit a namespace
// by accident.
package testutil
