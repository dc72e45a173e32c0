package cni

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/sluicenet/sluice/cni/cniapi"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          string
		wantSocket  string
		wantTimeout time.Duration
		wantField   string
		wantCode    uint
	}{
		{name: "defaults", in: `{"cniVersion":"1.1.0","name":"n","type":"sluice-cni"}`, wantSocket: DefaultAgentSocket, wantTimeout: DefaultTimeout},
		{name: "explicit keys", in: `{"cniVersion":"1.1.0","name":"n","type":"sluice-cni","agentSocket":"/run/x/../y/cni.sock","timeout":"250ms"}`, wantSocket: "/run/y/cni.sock", wantTimeout: 250 * time.Millisecond},
		{name: "unknown keys ignored", in: `{"cniVersion":"1.0.0","name":"n","type":"sluice-cni","bridge":"br0","runtimeConfig":{"portMappings":[]}}`, wantSocket: DefaultAgentSocket, wantTimeout: DefaultTimeout},
		{name: "agentSocket number", in: `{"cniVersion":"1.1.0","agentSocket":5}`, wantField: "agentSocket", wantCode: types.ErrDecodingFailure},
		{name: "agentSocket empty", in: `{"cniVersion":"1.1.0","agentSocket":""}`, wantField: "agentSocket", wantCode: types.ErrInvalidNetworkConfig},
		{name: "agentSocket relative", in: `{"cniVersion":"1.1.0","agentSocket":"run/cni.sock"}`, wantField: "agentSocket", wantCode: types.ErrInvalidNetworkConfig},
		{name: "timeout negative", in: `{"cniVersion":"1.1.0","timeout":"-1s"}`, wantField: "timeout", wantCode: types.ErrInvalidNetworkConfig},
		{name: "timeout without unit", in: `{"cniVersion":"1.1.0","timeout":"10"}`, wantField: "timeout", wantCode: types.ErrInvalidNetworkConfig},
		{name: "timeout object", in: `{"cniVersion":"1.1.0","timeout":{}}`, wantField: "timeout", wantCode: types.ErrDecodingFailure},
		{name: "ipam array names the standard key", in: `{"cniVersion":"1.1.0","ipam":[]}`, wantField: "ipam", wantCode: types.ErrDecodingFailure},
		{name: "missing cniVersion", in: `{"name":"n"}`, wantField: "cniVersion", wantCode: types.ErrInvalidNetworkConfig},
		{name: "not JSON", in: `{"cniVersion":`, wantCode: types.ErrDecodingFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.in))
			if tc.wantCode != 0 {
				var ce *ConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("got %v, %v; want a ConfigError", c, err)
				}
				if ce.Code != tc.wantCode || ce.Field != tc.wantField {
					t.Errorf("got code %d field %q (%v), want code %d field %q", ce.Code, ce.Field, err, tc.wantCode, tc.wantField)
				}
				if tc.wantField != "" && !strings.HasPrefix(err.Error(), tc.wantField+": ") {
					t.Errorf("got message %q, want it to start with the field %q", err, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if c.AgentSocket != tc.wantSocket || c.Timeout != tc.wantTimeout {
				t.Errorf("got socket %q timeout %v, want %q %v", c.AgentSocket, c.Timeout, tc.wantSocket, tc.wantTimeout)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		want      PodArgs
		wantField string
	}{
		{name: "empty", in: ""},
		{name: "kubernetes keys", in: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1",
			want: PodArgs{Namespace: "ns", Name: "web-0", InfraContainerID: "abc", UID: "u-1"}},
		{name: "value with equals sign", in: "K8S_POD_NAME=a=b", want: PodArgs{Name: "a=b"}},
		{name: "empty pairs skipped", in: ";K8S_POD_NAME=p;", want: PodArgs{Name: "p"}},
		{name: "pair without equals", in: "K8S_POD_NAME=p;garbage", wantField: "CNI_ARGS pair 2"},
		{name: "empty key", in: "=v", wantField: "CNI_ARGS pair 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseArgs(tc.in)
			if tc.wantField != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Field != tc.wantField || ce.Code != types.ErrInvalidEnvironmentVariables {
					t.Fatalf("got %+v, %v; want a code-4 ConfigError on %q", got, err, tc.wantField)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestResult(t *testing.T) {
	good := func() *cniapi.AddResponse {
		return &cniapi.AddResponse{
			Interfaces: []*cniapi.Interface{{Name: "eth0", Mac: "02:00:00:00:00:01", Mtu: 1500, Sandbox: "/run/netns/p"}},
			Ips:        []*cniapi.IPConfig{{Address: "10.0.0.5/24", Gateway: "10.0.0.1"}},
			Routes:     []*cniapi.Route{{Dst: "0.0.0.0/0", Gw: "10.0.0.1"}},
		}
	}
	t.Run("valid", func(t *testing.T) {
		r, err := Result(good())
		if err != nil {
			t.Fatalf("Result: %v", err)
		}
		if got := r.IPs[0].Address.String(); got != "10.0.0.5/24" {
			t.Errorf("got address %s, want 10.0.0.5/24 (host bits kept)", got)
		}
		if r.CNIVersion != "1.1.0" {
			t.Errorf("got version %s, want 1.1.0", r.CNIVersion)
		}
	})
	for _, tc := range []struct {
		name   string
		break_ func(*cniapi.AddResponse)
		want   string
	}{
		{"no ips", func(r *cniapi.AddResponse) { r.Ips = nil }, "ips: none"},
		{"address not CIDR", func(r *cniapi.AddResponse) { r.Ips[0].Address = "10.0.0.5" }, "ips[0].address"},
		{"bad gateway", func(r *cniapi.AddResponse) { r.Ips[0].Gateway = "gw" }, "ips[0].gateway"},
		{"interface index out of range", func(r *cniapi.AddResponse) { r.Ips[0].Interface = 3 }, "ips[0].interface"},
		{"bad mac", func(r *cniapi.AddResponse) { r.Interfaces[0].Mac = "zz" }, "interfaces[0].mac"},
		{"unnamed interface", func(r *cniapi.AddResponse) { r.Interfaces[0].Name = "" }, "interfaces[0].name"},
		{"bad route", func(r *cniapi.AddResponse) { r.Routes[0].Dst = "default" }, "routes[0].dst"},
		{"bad route gw", func(r *cniapi.AddResponse) { r.Routes[0].Gw = "x" }, "routes[0].gw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.break_(r)
			_, err := Result(r)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting with %q", err, tc.want)
			}
		})
	}
}

// FuzzParse feeds arbitrary network configurations and CNI_ARGS to the parsers: they must never
// panic, must return either a config or a ConfigError with a CNI code, and an accepted config
// always has an absolute socket and a positive timeout.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"sluice","type":"sluice-cni","agentSocket":"/run/sluice/cni.sock","timeout":"10s"}`), "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=abc")
	f.Add([]byte(`{"cniVersion":"1.1.0","agentSocket":5}`), "IgnoreUnknown=1")
	f.Add([]byte(`{"cniVersion":"0.4.0","timeout":"-3h","prevResult":{"ips":[]}}`), "=x;;a")
	f.Fuzz(func(t *testing.T, conf []byte, args string) {
		c, err := ParseConfig(conf)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Code == 0 {
				t.Fatalf("ParseConfig(%q): got %v, want a ConfigError with a code", conf, err)
			}
		} else if !strings.HasPrefix(c.AgentSocket, "/") || c.Timeout <= 0 || c.CNIVersion == "" {
			t.Fatalf("ParseConfig(%q) accepted socket %q timeout %v version %q", conf, c.AgentSocket, c.Timeout, c.CNIVersion)
		}
		if _, err := ParseArgs(args); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Code != types.ErrInvalidEnvironmentVariables {
				t.Fatalf("ParseArgs(%q): got %v, want a code-4 ConfigError", args, err)
			}
		}
	})
}

func TestCheckPrevResult(t *testing.T) {
	args := &skel.CmdArgs{ContainerID: "c1", Netns: "/run/netns/p", IfName: "eth0"}
	for _, tc := range []struct {
		name     string
		conf     string
		wantCode uint // 0: accepted
	}{
		{"no prevResult", `{"cniVersion":"1.1.0"}`, 0},
		{"prevResult holds the interface", `{"cniVersion":"1.1.0","prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/p"}],"ips":[{"address":"10.0.0.2/24","interface":0}]}}`, 0},
		{"interface in another sandbox", `{"cniVersion":"1.1.0","prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/q"}]}}`, CodeCheckMismatch},
		{"no interfaces", `{"cniVersion":"1.1.0","prevResult":{"cniVersion":"1.1.0","ips":[]}}`, CodeCheckMismatch},
		{"undecodable prevResult", `{"cniVersion":"1.1.0","prevResult":{"cniVersion":"1.1.0","ips":"x"}}`, types.ErrDecodingFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.conf))
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			err = checkPrevResult(&c.PluginConf, args)
			var ce *types.Error
			switch {
			case tc.wantCode == 0 && err != nil:
				t.Errorf("got %v, want success", err)
			case tc.wantCode != 0 && (!errors.As(err, &ce) || ce.Code != tc.wantCode):
				t.Errorf("got %v, want CNI error code %d", err, tc.wantCode)
			}
		})
	}
}
