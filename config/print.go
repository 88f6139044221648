package config

import (
	"bytes"
	"net/url"
	"strings"
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
		if k.URL && v.Value != "" {
			v = str(RedactURL(v.Value))
		}
		add(k.Name, v)
	}
	hooks := &yaml.Node{Kind: yaml.SequenceNode}
	if len(c.Webhooks) == 0 {
		hooks.Style = yaml.FlowStyle // "webhooks: []"
	}
	for _, h := range c.Webhooks {
		h.URL = RedactURL(h.URL)
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
			"Secrets, and credentials in URLs, are shown as " + Redacted + "."}
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

// secretParams are query parameter names, or parts of them, whose values are
// credentials by convention (token, access_token, api_key, sig, signature,
// password, X-Amz-Credential, ...). A few harmless ones hidden as well
// (monkey=) cost less than one credential shown.
var secretParams = []string{"token", "key", "secret", "sig", "pass", "pwd", "auth", "credential", "session"}

// RedactURL shows a URL with what may be a credential in it replaced by
// Redacted: the password of its user info (the whole user info if it has no
// password, as with https://TOKEN@host), and the values of query parameters
// that name secrets. Scheme, host, path and the other parameters stay, so the
// operator can still tell which receiver it is. A URL that does not parse is
// Redacted whole, since its parts cannot be told apart.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Redacted
	}
	user, query := u.User, u.RawQuery
	u.User, u.RawQuery, u.ForceQuery = nil, "", false
	out := u.String()
	if user != nil {
		info := Redacted
		if _, ok := user.Password(); ok {
			info = url.PathEscape(user.Username()) + ":" + Redacted
		}
		prefix := "//"
		if u.Scheme != "" {
			prefix = u.Scheme + ":" + prefix
		}
		out = prefix + info + "@" + strings.TrimPrefix(out, prefix)
	}
	if query != "" {
		frag := ""
		if i := strings.IndexByte(out, '#'); i >= 0 {
			out, frag = out[:i], out[i:]
		}
		params := strings.Split(query, "&")
		for i, p := range params {
			k, v, _ := strings.Cut(p, "=")
			name, err := url.QueryUnescape(k)
			if err != nil {
				name = k
			}
			if v != "" && secretParam(name) {
				params[i] = k + "=" + Redacted
			}
		}
		out += "?" + strings.Join(params, "&") + frag
	}
	return out
}

func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, s := range secretParams {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}
