// Package recordcrypt opens the media of an end-to-end encrypted record: it
// reads the media keys a participant's browser kept (parley-media-keys-v1,
// docs/e2ee.md) and writes a playable copy of a recorded WebM file with every
// frame they open decrypted. The record itself is never touched; it stays
// verifiable. The cryptography is web/static/sframe.js's, in Go.
package recordcrypt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Format names a media keys file.
const Format = "parley-media-keys-v1"

// Limits on a keys file, which comes from outside: a browser keeps at most
// MaxKeys per record and identity (keys.js).
const (
	MaxKeysFile = 4 << 20
	MaxKeys     = 4096
	maxName     = 256
)

// Sender is who a media secret belongs to: the participant whose frames it
// seals, as the browser that kept it bound it (docs/e2ee.md, "The exchange").
type Sender struct {
	Participant string `json:"participant"`
	Identity    string `json:"identity"`
}

// Key is one media secret and the SFrame key id it is for.
type Key struct {
	KID    uint64
	Sender Sender
	Secret [32]byte
}

// Keys are the media keys of one record, as a browser kept them.
type Keys struct {
	Record   string
	Identity string // whose browser kept them
	Keys     []Key
}

type fileKey struct {
	KID    string `json:"kid"`
	Sender Sender `json:"sender"`
	Secret string `json:"secret"`
}

type file struct {
	Format   string    `json:"format"`
	Record   string    `json:"record"`
	Identity string    `json:"identity"`
	Keys     []fileKey `json:"keys"`
}

// ReadKeys reads a parley-media-keys-v1 file, refusing anything else: a file
// over MaxKeysFile bytes, another format, a key id or secret of the wrong shape.
func ReadKeys(r io.Reader) (*Keys, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxKeysFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxKeysFile {
		return nil, fmt.Errorf("over %d MB: not a media keys file", MaxKeysFile>>20)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("not a media keys file: %w", err)
	}
	if f.Format != Format {
		return nil, fmt.Errorf("format %q, want %s", f.Format, Format)
	}
	if f.Record == "" || len(f.Record) > maxName || len(f.Identity) > maxName {
		return nil, errors.New("a media keys file names its record, and an identity of at most 256 bytes")
	}
	if len(f.Keys) > MaxKeys {
		return nil, fmt.Errorf("%d keys, more than the %d a browser keeps", len(f.Keys), MaxKeys)
	}
	k := &Keys{Record: f.Record, Identity: f.Identity}
	for i, fk := range f.Keys {
		kid, err := strconv.ParseUint(fk.KID, 10, 64)
		if err != nil || strings.TrimLeft(fk.KID, "0123456789") != "" {
			return nil, fmt.Errorf("key %d: key id %q is not a decimal 64-bit number", i+1, fk.KID)
		}
		secret, err := base64.RawURLEncoding.DecodeString(fk.Secret)
		if err != nil || len(secret) != 32 {
			return nil, fmt.Errorf("key %d (key id %s): the secret is not 32 bytes in base64url", i+1, fk.KID)
		}
		if len(fk.Sender.Participant) > maxName || len(fk.Sender.Identity) > maxName {
			return nil, fmt.Errorf("key %d (key id %s): a sender's names are at most 256 bytes", i+1, fk.KID)
		}
		key := Key{KID: kid, Sender: fk.Sender}
		copy(key.Secret[:], secret)
		k.Keys = append(k.Keys, key)
	}
	return k, nil
}
