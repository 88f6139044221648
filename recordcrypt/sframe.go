package recordcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha512"
	"encoding/binary"
	"errors"
)

// SFrame as web/static/sframe.js protects a frame: the codec's first bytes in
// clear, the SFrame header (RFC 9605 4.3), then AES-256-GCM of the rest with a
// 16-byte tag; keys per RFC 9605 4.4.2, cipher suite AES_256_GCM_SHA512_128.
const (
	cipherSuite = 0x0005
	tagLen      = 16
)

// clearBytes is how many leading bytes of a frame the sender left in clear
// (sframe.js clearBytes): the Opus TOC byte; VP8's 3-byte frame tag, and for
// a keyframe (its tag's low bit 0) the start code and size after it.
func clearBytes(video bool, frame []byte) int {
	if !video {
		return 1
	}
	if len(frame) > 0 && frame[0]&1 == 0 {
		return 10
	}
	return 3
}

var errNotSFrame = errors.New("not an SFrame frame")

// parseHeader reads the SFrame header at the start of b: the key id, the
// counter and the header's length.
func parseHeader(b []byte) (kid, ctr uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, errNotSFrame
	}
	first := b[0]
	pos := 1
	read := func(extended bool, v byte) (uint64, bool) {
		if !extended {
			return uint64(v), true
		}
		l := int(v) + 1
		if pos+l > len(b) {
			return 0, false
		}
		var u uint64
		for _, x := range b[pos : pos+l] {
			u = u<<8 | uint64(x)
		}
		pos += l
		return u, true
	}
	kid, ok := read(first&0x80 != 0, first>>4&7)
	if !ok {
		return 0, 0, 0, errNotSFrame
	}
	ctr, ok = read(first&0x08 != 0, first&7)
	if !ok {
		return 0, 0, 0, errNotSFrame
	}
	return kid, ctr, pos, nil
}

// secret is one media secret, its AEAD derived when first needed.
type secret struct {
	raw    [32]byte
	sender Sender
	aead   cipher.AEAD
	salt   []byte
}

func (s *secret) derive(kid uint64) error {
	if s.aead != nil {
		return nil
	}
	suffix := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(nil, kid), cipherSuite)
	key, err := hkdf.Key(sha512.New, s.raw[:], nil, "SFrame 1.0 Secret key "+string(suffix), 32)
	if err != nil {
		return err
	}
	salt, err := hkdf.Key(sha512.New, s.raw[:], nil, "SFrame 1.0 Secret salt "+string(suffix), 12)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	s.aead, s.salt = aead, salt
	return nil
}

// Ring holds the media secrets of one or more keys files, by key id.
type Ring struct {
	byKID map[uint64][]*secret
}

// NewRing gathers keys; the same secret given twice (two participants' files
// both hold it) counts once.
func NewRing(files ...*Keys) *Ring {
	r := &Ring{byKID: map[uint64][]*secret{}}
	for _, f := range files {
	next:
		for _, k := range f.Keys {
			for _, s := range r.byKID[k.KID] {
				if s.raw == k.Secret {
					continue next
				}
			}
			r.byKID[k.KID] = append(r.byKID[k.KID], &secret{raw: k.Secret, sender: k.Sender})
		}
	}
	return r
}

// Len is the number of distinct secrets in the ring.
func (r *Ring) Len() int {
	n := 0
	for _, l := range r.byKID {
		n += len(l)
	}
	return n
}

// outcome of opening one frame.
type outcome int

const (
	opened  outcome = iota
	missing         // no key for its key id
	failed          // not SFrame, or does not authenticate under the key of its key id
)

// open decrypts one recorded frame. It returns the frame as the encoder made
// it, the key id and counter, and whose secret opened it.
func (r *Ring) open(frame []byte, video bool) (plain []byte, kid, ctr uint64, who Sender, o outcome) {
	clear := clearBytes(video, frame)
	if len(frame) < clear+1+tagLen {
		return nil, 0, 0, Sender{}, failed
	}
	kid, ctr, n, err := parseHeader(frame[clear:])
	if err != nil || len(frame) < clear+n+tagLen {
		return nil, 0, 0, Sender{}, failed
	}
	list := r.byKID[kid]
	if len(list) == 0 {
		return nil, kid, ctr, Sender{}, missing
	}
	head, header, body := frame[:clear], frame[clear:clear+n], frame[clear+n:]
	aad := append(append(make([]byte, 0, n+clear), header...), head...)
	for _, s := range list {
		if s.derive(kid) != nil {
			continue
		}
		nonce := binary.BigEndian.AppendUint64(make([]byte, 4), ctr)
		for i := range nonce {
			nonce[i] ^= s.salt[i]
		}
		out, err := s.aead.Open(append(make([]byte, 0, len(frame)), head...), nonce, body, aad)
		if err == nil {
			return out, kid, ctr, s.sender, opened
		}
	}
	return nil, kid, ctr, Sender{}, failed
}
