package config

import (
	"bytes"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Redacted stands in for a secret in printed configuration. Validate refuses
// it, so a printed configuration reused as a file cannot sign webhooks with
// a placeholder everyone knows.
const Redacted = "<redacted>"

// Marshal writes c as a YAML file that ApplyYAML reads back to the same
// configuration, except that secrets are Redacted. Each value that is not a
// default carries a comment saying where it came from, per src (may be nil).
func Marshal(c Config, src Sources) ([]byte, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, v *yaml.Node) {
		kn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
		if from, ok := src[key]; ok {
			// The encoder drops a line comment on a block list, but keeps one
			// on the list's key.
			if v.Kind == yaml.ScalarNode || v.Style&yaml.FlowStyle != 0 {
				v.LineComment = "from " + from
			} else {
				kn.LineComment = "from " + from
			}
		}
		m.Content = append(m.Content, kn, v)
	}
	for _, k := range keys {
		v := scalar(k.field(&c), k.Get(c))
		if k.Secret && v.Value != "" {
			v = str(Redacted)
		}
		add(k.Name, v)
	}
	hooks := &yaml.Node{Kind: yaml.SequenceNode}
	if len(c.Webhooks) == 0 {
		hooks.Style = yaml.FlowStyle // "webhooks: []"
	}
	for _, h := range c.Webhooks {
		secret := h.Secret
		if secret != "" {
			secret = Redacted
		}
		events := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, e := range h.Events {
			events.Content = append(events.Content, str(e))
		}
		hooks.Content = append(hooks.Content, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			str("url"), str(h.URL), str("secret"), str(secret), str("events"), events,
		}})
	}
	add(WebhooksKey, hooks)

	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m},
		HeadComment: "Parley configuration in effect: defaults < config file < PARLEY_* environment < flags.\n" +
			"Secrets are shown as " + Redacted + "."}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// scalar tags a value by its Go type so that the encoder quotes text that
// would otherwise read back as a number or a boolean.
func scalar(p any, text string) *yaml.Node {
	n := str(text)
	switch p.(type) {
	case *int:
		n.Tag = "!!int"
	case *bool:
		n.Tag = "!!bool"
	case *time.Duration:
		// Durations are text to YAML ("10s").
	}
	return n
}
