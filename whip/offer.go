package whip

import (
	"errors"
	"fmt"

	"github.com/pion/sdp/v3"

	"github.com/parleyhq/parley/signal"
)

// offerInfo is what the endpoints need to know of a client's offer.
type offerInfo struct {
	// sources maps each sending section's mid to the source it publishes:
	// the first video is the camera, a second the screen; the first audio
	// is the microphone, a second the screen's audio.
	sources map[string]string
	ufrag   string // the client's ICE username fragment, to tell trickle from restart
}

// sourcesByKind are the sources a WHIP publisher's sections take, in order.
var sourcesByKind = map[string][]string{
	"video": {signal.SourceCamera, signal.SourceScreen},
	"audio": {signal.SourceMic, signal.SourceScreenAudio},
}

// inspectOffer parses an SDP offer. With publish, every audio or video
// section the client sends on needs a mid and takes a source; at least one
// must send.
func inspectOffer(raw string, publish bool) (offerInfo, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		return offerInfo{}, fmt.Errorf("the SDP offer cannot be parsed: %v", err)
	}
	info := offerInfo{sources: map[string]string{}}
	info.ufrag, _ = d.Attribute("ice-ufrag")
	used := map[string]int{}
	media := 0
	for i, md := range d.MediaDescriptions {
		if info.ufrag == "" {
			info.ufrag, _ = md.Attribute("ice-ufrag")
		}
		kind := md.MediaName.Media
		if kind != "audio" && kind != "video" {
			continue
		}
		media++
		if !publish || md.MediaName.Port.Value == 0 {
			continue
		}
		// As pion reads a direction: the section's, else the session's, else sendrecv.
		dir := direction(md.Attributes)
		if dir == "" {
			dir = direction(d.Attributes)
		}
		if dir == "recvonly" || dir == "inactive" {
			continue
		}
		mid, _ := md.Attribute("mid")
		if mid == "" || len(mid) > 32 {
			return offerInfo{}, fmt.Errorf("media section %d (%s) needs an a=mid of 1-32 characters", i, kind)
		}
		if _, dup := info.sources[mid]; dup {
			return offerInfo{}, fmt.Errorf("two media sections have mid %q", mid)
		}
		names := sourcesByKind[kind]
		if used[kind] == len(names) {
			return offerInfo{}, fmt.Errorf("at most %d %s sections may be published", len(names), kind)
		}
		info.sources[mid] = names[used[kind]]
		used[kind]++
	}
	if media == 0 {
		return offerInfo{}, errors.New("the SDP offer has no audio or video section")
	}
	if publish && len(info.sources) == 0 {
		return offerInfo{}, errors.New("the SDP offer sends neither audio nor video (every section is recvonly or inactive)")
	}
	return info, nil
}

func direction(attrs []sdp.Attribute) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return ""
}
