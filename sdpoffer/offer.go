// Package sdpoffer reads what a client offers in SDP: the offer itself,
// parsed once into what the server decides on (which sections the client
// sends or receives on, with which codecs, under which ICE credentials), and
// the fragments of trickle ICE (RFC 8840) that follow it.
//
// Pion parses the offer again to answer it. Where the server's decision and
// pion's reading must agree (which sections carry media from the client),
// this package reads as pion does.
package sdpoffer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Offer is a client's SDP offer.
type Offer struct {
	// SDP is the offer as the client sent it, for pion to answer.
	SDP string
	// Ufrag and Pwd are the client's ICE credentials: the session's, else
	// those of the first section that has them. A trickled fragment with
	// another ufrag is an ICE restart.
	Ufrag, Pwd string
	// Sections are the offer's m= sections in order, of every kind.
	Sections []Section
}

// Section is one m= section of an offer.
type Section struct {
	Kind string // the m= line's media as written: "audio", "video", "application"...
	Port int    // 0: the client rejected the section
	Mid  string // a=mid; "" when absent
	// Direction is the client's: "sendrecv", "sendonly", "recvonly" or
	// "inactive". As pion reads it (webrtc sdp.go getPeerDirection): the
	// section's first direction attribute, else the session's, else sendrecv.
	Direction string
	// Codecs are the payload types of the m= line that a well-formed
	// a=rtpmap names, in the client's order of preference.
	Codecs []Codec
}

// Codec is one payload type of a section.
type Codec struct {
	PayloadType string // as the m= line lists it
	Name        string // encoding name as written: "opus", "VP8"
	ClockRate   uint32
}

// Parse parses an offer. Its error is the SDP parser's, for callers to
// word as they answer.
func Parse(raw string) (*Offer, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		return nil, err
	}
	o := &Offer{SDP: raw, Sections: make([]Section, 0, len(d.MediaDescriptions))}
	o.Ufrag, _ = d.Attribute("ice-ufrag")
	o.Pwd, _ = d.Attribute("ice-pwd")
	sessionDir := firstDirection(d.Attributes)
	for _, md := range d.MediaDescriptions {
		if o.Ufrag == "" {
			o.Ufrag, _ = md.Attribute("ice-ufrag")
		}
		if o.Pwd == "" {
			o.Pwd, _ = md.Attribute("ice-pwd")
		}
		s := Section{Kind: md.MediaName.Media, Port: md.MediaName.Port.Value, Codecs: codecs(md)}
		s.Mid, _ = md.Attribute("mid")
		s.Direction = firstDirection(md.Attributes)
		if s.Direction == "" {
			s.Direction = sessionDir
		}
		if s.Direction == "" {
			s.Direction = "sendrecv"
		}
		o.Sections = append(o.Sections, s)
	}
	return o, nil
}

// firstDirection is the first direction attribute of attrs, "" if none.
// Pion takes the first, so reading the last (or any other) would let an
// offer pass a check on one reading and be answered on another.
func firstDirection(attrs []sdp.Attribute) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return ""
}

// codecs reads md's payload types with their a=rtpmap. Each rtpmap is
// parsed once, whatever the m= line repeats: an offer as big as a
// signaling message must not cost formats times attributes.
func codecs(md *sdp.MediaDescription) []Codec {
	type rtpmap struct {
		name  string
		clock uint32
		ok    bool
	}
	var maps map[string]rtpmap // by payload type: the first a=rtpmap naming it
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, found := strings.Cut(a.Value, " ")
		if !found {
			continue
		}
		if _, seen := maps[pt]; seen {
			continue
		}
		if maps == nil {
			maps = map[string]rtpmap{}
		}
		var m rtpmap
		name, rest, found := strings.Cut(enc, "/")
		clock, _, _ := strings.Cut(rest, "/")
		if c, err := strconv.ParseUint(clock, 10, 32); found && err == nil {
			m = rtpmap{name: name, clock: uint32(c), ok: true}
		}
		maps[pt] = m
	}
	var out []Codec
	for _, pt := range md.MediaName.Formats {
		if m := maps[pt]; m.ok {
			out = append(out, Codec{PayloadType: pt, Name: m.name, ClockRate: m.clock})
		}
	}
	return out
}

// AudioVideo reports whether the section is audio or video, named as the
// server names them (in lower case).
func (s *Section) AudioVideo() bool { return s.Kind == "audio" || s.Kind == "video" }

// Sending reports whether the client sends on the section: it is not
// rejected and its direction is sendrecv or sendonly.
func (s *Section) Sending() bool {
	return s.Port != 0 && (s.Direction == "sendrecv" || s.Direction == "sendonly")
}

// Receiving reports whether the client receives on the section: it is not
// rejected and its direction is sendrecv or recvonly.
func (s *Section) Receiving() bool {
	return s.Port != 0 && (s.Direction == "sendrecv" || s.Direction == "recvonly")
}

// HasAudioVideo reports whether the offer has an audio or video section,
// rejected or not.
func (o *Offer) HasAudioVideo() bool {
	for i := range o.Sections {
		if o.Sections[i].AudioVideo() {
			return true
		}
	}
	return false
}

// SendingMids lists the mids of the audio and video sections the client
// sends on, in order; a section without a=mid is listed as "". The room
// checks them against the publish grant before pion receives on them.
func (o *Offer) SendingMids() []string {
	var out []string
	for i := range o.Sections {
		if s := &o.Sections[i]; s.AudioVideo() && s.Sending() {
			out = append(out, s.Mid)
		}
	}
	return out
}

// The sources of the protocol (signal.Source*; a test holds them equal). The
// package keeps its own copy so that it imports nothing of Parley: sfu reads
// offers through it, and sfu knows no protocol.
const (
	SourceCamera      = "camera"
	SourceScreen      = "screen"
	SourceMic         = "mic"
	SourceScreenAudio = "screen-audio"
)

// sourcesByKind are the sources a publisher's sections take, in order.
var sourcesByKind = map[string][]string{
	"video": {SourceCamera, SourceScreen},
	"audio": {SourceMic, SourceScreenAudio},
}

// Sources maps the mid of each audio or video section the client sends on to
// the source it publishes, for a client that cannot say (WHIP): the first
// video is the camera, a second the screen; the first audio is the
// microphone, a second the screen's audio. Each such section needs a mid of
// 1-32 characters, and at least one must send.
func (o *Offer) Sources() (map[string]string, error) {
	sources := map[string]string{}
	used := map[string]int{}
	for i := range o.Sections {
		s := &o.Sections[i]
		if !s.AudioVideo() || !s.Sending() {
			continue
		}
		if s.Mid == "" || len(s.Mid) > 32 {
			return nil, fmt.Errorf("media section %d (%s) needs an a=mid of 1-32 characters", i, s.Kind)
		}
		if _, dup := sources[s.Mid]; dup {
			return nil, fmt.Errorf("two media sections have mid %q", s.Mid)
		}
		names := sourcesByKind[s.Kind]
		if used[s.Kind] == len(names) {
			return nil, fmt.Errorf("at most %d %s sections may be published", len(names), s.Kind)
		}
		sources[s.Mid] = names[used[s.Kind]]
		used[s.Kind]++
	}
	if len(sources) == 0 {
		return nil, errors.New("the SDP offer sends neither audio nor video (every section is recvonly or inactive)")
	}
	return sources, nil
}
