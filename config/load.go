package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Sources says where each key's value came from, by YAML key: "parley.yaml
// line 4", "PARLEY_UDP_PORT" or "--udp-port". A key that is absent has its
// default. Errors and `parley config print` use it to point at the culprit.
type Sources map[string]string

// ApplyYAML sets every key the YAML document in data names and leaves the
// others as they are. name labels errors ("config file NAME: line 4: ...").
// Unknown keys, keys given twice and values of the wrong kind are errors.
func ApplyYAML(c *Config, name string, data []byte) error {
	return applyYAML(c, nil, name, data)
}

// ApplyEnv sets every key named by a PARLEY_* variable in environ (as from
// os.Environ). A PARLEY_* variable that names no key is an error, because a
// misspelt variable would otherwise be ignored without a word. An empty
// value counts as unset, so templated deployments can leave one blank.
func ApplyEnv(c *Config, environ []string) error {
	return applyEnv(c, nil, environ)
}

func applyYAML(c *Config, src Sources, name string, data []byte) error {
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("config file %s: line %d: %s", name, line, fmt.Sprintf(format, args...))
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file keeps every default
		}
		return fmt.Errorf("config file %s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return fail(more.Line, "a second YAML document; put every key in one")
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	root := deref(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = deref(root.Content[0])
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return fail(root.Line, "expected keys and values (key: value), one per line")
	}
	next := *c // the file applies whole or not at all
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := root.Content[i], deref(root.Content[i+1])
		if kn.Kind != yaml.ScalarNode {
			return fail(kn.Line, "keys are plain names")
		}
		key := kn.Value
		if first, dup := seen[key]; dup {
			return fail(kn.Line, "%s: given twice (first on line %d)", key, first)
		}
		seen[key] = kn.Line
		if key == WebhooksKey {
			hooks, err := yamlWebhooks(vn)
			if err != nil {
				return fmt.Errorf("config file %s: %w", name, err)
			}
			next.Webhooks = hooks
		} else {
			k, ok := LookupKey(key)
			if !ok {
				if hint, ok := suggest(key); ok {
					return fail(kn.Line, "unknown key %q (did you mean %s?)", key, hint)
				}
				return fail(kn.Line, "unknown key %q", key)
			}
			s, err := yamlScalar(vn)
			if err == nil {
				err = k.Set(&next, s)
			}
			if err != nil {
				return fail(vn.Line, "%s: %v", key, err)
			}
		}
		if src != nil {
			src[key] = fmt.Sprintf("%s line %d", name, kn.Line)
		}
	}
	*c = next
	return nil
}

// deref follows YAML aliases (*name) to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func yamlScalar(n *yaml.Node) (string, error) {
	switch {
	case n.Kind != yaml.ScalarNode:
		return "", errors.New("expected a single value, not a list or a map")
	case n.Tag == "!!null":
		return "", nil // "key:" with nothing after it: empty, which only text keys accept
	}
	return n.Value, nil
}

func yamlWebhooks(n *yaml.Node) ([]Webhook, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: webhooks: expected a list of {url, secret, events}", n.Line)
	}
	var hooks []Webhook
	for i, item := range n.Content {
		item = deref(item)
		at := fmt.Sprintf("webhooks[%d]", i)
		if item.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: %s: expected url, secret and events", item.Line, at)
		}
		var h Webhook
		seen := map[string]bool{}
		for j := 0; j+1 < len(item.Content); j += 2 {
			kn, vn := item.Content[j], deref(item.Content[j+1])
			if seen[kn.Value] {
				return nil, fmt.Errorf("line %d: %s.%s: given twice", kn.Line, at, kn.Value)
			}
			seen[kn.Value] = true
			var err error
			switch kn.Value {
			case "url":
				h.URL, err = yamlScalar(vn)
			case "secret":
				h.Secret, err = yamlScalar(vn)
			case "events":
				h.Events, err = yamlList(vn)
			default:
				return nil, fmt.Errorf("line %d: %s: unknown key %q (a webhook has url, secret and events)", kn.Line, at, kn.Value)
			}
			if err != nil {
				return nil, fmt.Errorf("line %d: %s.%s: %v", vn.Line, at, kn.Value, err)
			}
		}
		hooks = append(hooks, h)
	}
	return hooks, nil
}

func yamlList(n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("expected a list like [room_started, participant_joined]")
	}
	var out []string
	for _, e := range n.Content {
		s, err := yamlScalar(deref(e))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func applyEnv(c *Config, src Sources, environ []string) error {
	vars := map[string]string{}
	var names []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) {
			continue
		}
		vars[name] = value
		names = append(names, name)
	}
	sort.Strings(names) // the same environment always gives the same first error
	next := *c
	for _, name := range names {
		value := vars[name]
		if value == "" {
			continue
		}
		switch name {
		case EnvConfig, EnvWebhookURL, EnvWebhookSecret, EnvWebhookEvents:
			continue
		}
		k, ok := LookupKey(strings.ToLower(strings.TrimPrefix(name, envPrefix)))
		if !ok || k.Env() != name {
			if hint, ok := suggest(strings.TrimPrefix(name, envPrefix)); ok && hint != WebhooksKey {
				return fmt.Errorf("%s: no such setting (did you mean %s?)", name, envPrefix+strings.ToUpper(hint))
			}
			return fmt.Errorf("%s: no such setting; the PARLEY_* variables are listed in docs/config.md", name)
		}
		if err := k.Set(&next, value); err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		if src != nil {
			src[k.Name] = name
		}
	}
	url, secret, events := vars[EnvWebhookURL], vars[EnvWebhookSecret], vars[EnvWebhookEvents]
	switch {
	case url != "":
		// One webhook from the environment replaces the file's list, as every
		// other environment variable replaces the file's value.
		next.Webhooks = []Webhook{{URL: url, Secret: secret, Events: splitComma(events)}}
		if src != nil {
			src[WebhooksKey] = EnvWebhookURL
		}
	case secret != "":
		return fmt.Errorf("%s: set without %s", EnvWebhookSecret, EnvWebhookURL)
	case events != "":
		return fmt.Errorf("%s: set without %s", EnvWebhookEvents, EnvWebhookURL)
	}
	*c = next
	return nil
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Flags are the command-line flags of every key plus --config, registered on
// a FlagSet. Flag values are kept apart until Load so that a flag beats the
// environment and the file whatever order they are read in.
type Flags struct {
	fs    *flag.FlagSet
	given Config // values of the flags that were set; the rest is unused
	file  string // --config
	used  string // the file Load read, if any
}

// RegisterFlags adds --config and one flag per key to fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, given: Default()}
	fs.StringVar(&f.file, "config", "", "YAML configuration `file` (env "+EnvConfig+")")
	def := Default()
	for _, k := range keys {
		v := &keyValue{key: k, cfg: &f.given}
		names := []string{k.Flag()}
		if k.Alias != "" {
			fs.Var(v, k.Alias, "the same as --"+k.Flag())
			names = append(names, k.Alias)
		}
		fs.Var(v, k.Flag(), k.Usage+" (env "+k.Env()+")")
		// Help shows "(default X)" unless X is the zero value's text, which
		// for this Value type is always "": blank out false and 0 so they
		// read as they did with the flag package's own types.
		for _, name := range names {
			if fl := fs.Lookup(name); fl != nil {
				fl.DefValue = k.Get(def)
				if fl.DefValue == k.Get(Config{}) {
					fl.DefValue = ""
				}
			}
		}
	}
	return f
}

// keyValue is a flag.Value parsing with the same rules as the file and the environment.
type keyValue struct {
	key Key
	cfg *Config
}

func (v *keyValue) String() string {
	if v == nil || v.cfg == nil {
		return "" // the flag package asks zero values for their text
	}
	return v.key.Get(*v.cfg)
}

func (v *keyValue) Set(s string) error { return v.key.Set(v.cfg, s) }

// IsBoolFlag lets boolean keys be given as --turn and --turn=false.
func (v *keyValue) IsBoolFlag() bool { return v != nil && v.key.field != nil && isBool(v.key) }

// Load builds the effective configuration after the FlagSet was parsed:
// defaults, then the YAML file (--config, else $PARLEY_CONFIG), then the
// PARLEY_* variables of environ, then the flags that were given. It validates
// the result; an error names the key and where its value came from.
func (f *Flags) Load(environ []string) (Config, Sources, error) {
	c, src := Default(), Sources{}
	path := f.file
	if path == "" {
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, EnvConfig+"="); ok {
				path = v
			}
		}
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, nil, fmt.Errorf("config file: %w", err)
		}
		if err := applyYAML(&c, src, path, data); err != nil {
			return Config{}, nil, err
		}
		f.used = path
	}
	if err := applyEnv(&c, src, environ); err != nil {
		return Config{}, nil, err
	}
	f.fs.Visit(func(fl *flag.Flag) {
		if k, ok := lookupFlag(fl.Name); ok && (fl.Name == k.Flag() || fl.Name == k.Alias) {
			copyField(k, &c, &f.given)
			src[k.Name] = "--" + fl.Name
		}
	})
	if err := c.Validate(); err != nil {
		return Config{}, nil, src.explain(err)
	}
	return c, src, nil
}

// File is the YAML file the last Load read, or "".
func (f *Flags) File() string { return f.used }

// explain adds where a bad value came from to a validation error.
func (s Sources) explain(err error) error {
	var ke *KeyError
	if !errors.As(err, &ke) {
		return err
	}
	top, _, _ := strings.Cut(ke.Key, "[")
	if from, ok := s[top]; ok {
		return fmt.Errorf("%w (set by %s)", err, from)
	}
	return err
}
