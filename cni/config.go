package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
)

// DefaultAgentSocket is the agent's CNI socket when the configuration names none.
const DefaultAgentSocket = "/run/sluice/cni.sock"

// DefaultTimeout bounds one call to the agent when the configuration sets no "timeout". It is
// below kubelet's and containerd's own CNI deadlines, so the runtime sees our "try again later"
// rather than killing the plugin.
const DefaultTimeout = 30 * time.Second

// Config is the plugin's network configuration: the standard keys plus Sluice's own.
type Config struct {
	types.PluginConf

	// AgentSocket is the absolute path of sluice-agent's CNI unix socket.
	AgentSocket string `json:"agentSocket,omitempty"`
	// Timeout bounds each call to the agent, dial included.
	Timeout time.Duration `json:"-"`
}

// rawConfig is what the JSON holds; Timeout is a Go duration string there.
type rawConfig struct {
	types.PluginConf
	AgentSocket *string `json:"agentSocket"`
	Timeout     *string `json:"timeout"`
}

// ConfigError is a malformed network configuration or CNI_ARGS; Field names the offending key.
type ConfigError struct {
	// Code is the CNI error code: 4 for CNI_ARGS, 6 for undecodable JSON, 7 for a bad value.
	Code uint
	// Field is the key at fault ("agentSocket", "CNI_ARGS K8S_POD_NAME"), empty if unknown.
	Field string
	// Err says what is wrong with it.
	Err error
}

// Error implements error.
func (e *ConfigError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Field, e.Err)
}

// Unwrap returns the underlying cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// ParseConfig decodes the network configuration the runtime wrote to stdin and fills defaults.
// Unknown keys are ignored (they belong to the runtime or to other plugins of the list).
func ParseConfig(data []byte) (*Config, error) {
	var raw rawConfig
	if err := json.Unmarshal(data, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			// The standard keys live in the embedded PluginConf; name them as the JSON does.
			field := strings.TrimPrefix(te.Field, "PluginConf.")
			return nil, &ConfigError{Code: types.ErrDecodingFailure, Field: field,
				Err: fmt.Errorf("want a JSON %s, got %s", jsonKind(te.Type.Kind().String()), te.Value)}
		}
		return nil, &ConfigError{Code: types.ErrDecodingFailure, Err: fmt.Errorf("decode network config: %w", err)}
	}
	c := &Config{PluginConf: raw.PluginConf, AgentSocket: DefaultAgentSocket, Timeout: DefaultTimeout}
	if c.CNIVersion == "" {
		return nil, &ConfigError{Code: types.ErrInvalidNetworkConfig, Field: "cniVersion", Err: errors.New("missing")}
	}
	if raw.AgentSocket != nil {
		s := *raw.AgentSocket
		if s == "" || !filepath.IsAbs(s) {
			return nil, &ConfigError{Code: types.ErrInvalidNetworkConfig, Field: "agentSocket",
				Err: fmt.Errorf("want an absolute path, got %q", s)}
		}
		c.AgentSocket = filepath.Clean(s)
	}
	if raw.Timeout != nil {
		d, err := time.ParseDuration(*raw.Timeout)
		if err != nil || d <= 0 {
			return nil, &ConfigError{Code: types.ErrInvalidNetworkConfig, Field: "timeout",
				Err: fmt.Errorf("want a positive duration such as \"10s\", got %q", *raw.Timeout)}
		}
		c.Timeout = d
	}
	return c, nil
}

// jsonKind names a Go kind the way a config author thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	case "ptr":
		return "string"
	default:
		return "number"
	}
}

// PodArgs is the Kubernetes identity a runtime passes in CNI_ARGS.
type PodArgs struct {
	// Namespace is K8S_POD_NAMESPACE.
	Namespace string
	// Name is K8S_POD_NAME.
	Name string
	// InfraContainerID is K8S_POD_INFRA_CONTAINER_ID.
	InfraContainerID string
	// UID is K8S_POD_UID.
	UID string
}

// ParseArgs parses CNI_ARGS ("K1=V1;K2=V2"). Keys other than the K8S_POD_* ones are ignored, as
// runtimes add their own (IgnoreUnknown, ...); a pair without "=" or with an empty key is an error
// naming the pair.
func ParseArgs(s string) (PodArgs, error) {
	var a PodArgs
	if s == "" {
		return a, nil
	}
	for i, pair := range strings.Split(s, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return PodArgs{}, &ConfigError{Code: types.ErrInvalidEnvironmentVariables,
				Field: fmt.Sprintf("CNI_ARGS pair %d", i+1), Err: fmt.Errorf("want KEY=VALUE, got %q", pair)}
		}
		switch k {
		case "K8S_POD_NAMESPACE":
			a.Namespace = v
		case "K8S_POD_NAME":
			a.Name = v
		case "K8S_POD_INFRA_CONTAINER_ID":
			a.InfraContainerID = v
		case "K8S_POD_UID":
			a.UID = v
		}
	}
	return a, nil
}

// requireForAdd reports the first K8S_POD_* key ADD cannot do without.
func (a PodArgs) requireForAdd() error {
	switch {
	case a.Namespace == "":
		return &ConfigError{Code: types.ErrInvalidEnvironmentVariables, Field: "CNI_ARGS K8S_POD_NAMESPACE", Err: errors.New("missing")}
	case a.Name == "":
		return &ConfigError{Code: types.ErrInvalidEnvironmentVariables, Field: "CNI_ARGS K8S_POD_NAME", Err: errors.New("missing")}
	}
	return nil
}
