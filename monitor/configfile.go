package monitor

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/flowlens/flowlens/config"
)

// ConfigSection is the name of the monitors' section of the config file.
const ConfigSection = "monitors"

// FromConfig reads the `monitors:` section of the server's config file:
//
//	monitors:
//	  - name: web-a-to-zone-b
//	    local: [subnet:web-a]
//	    remote: [zone:zone-b, service:objstore]   # omitted: everywhere
//	    period: 10s                               # default 60s
//
// It checks the form; resources are checked against the topology when the
// module starts. A nil file or a missing section gives no monitors.
func FromConfig(f *config.File) ([]ConfigMonitor, error) {
	sec := f.Section(ConfigSection)
	if sec == nil || sec.Tag == "!!null" {
		return nil, nil
	}
	if sec.Kind != yaml.SequenceNode {
		return nil, f.Errorf(sec, ConfigSection, "want a list of monitors")
	}
	var out []ConfigMonitor
	for i, n := range sec.Content {
		field := fmt.Sprintf("%s[%d]", ConfigSection, i)
		var name, period string
		var local, remote []string
		err := f.Fields(n, field, []string{"name", "local", "remote", "period"}, func(k string, v *yaml.Node) error {
			var err error
			switch k {
			case "name":
				name, err = f.String(v, field+".name")
			case "local":
				local, err = f.Strings(v, field+".local")
			case "remote":
				remote, err = f.Strings(v, field+".remote")
			case "period":
				period, err = f.String(v, field+".period")
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		spec, err := ParseSpec(name, local, remote, period)
		if err == nil {
			err = spec.Validate(nil)
		}
		if err != nil {
			return nil, f.Errorf(n, field, "%v", err)
		}
		out = append(out, ConfigMonitor{Spec: spec, Where: f.Where(n)})
	}
	return out, nil
}
