// Package sfu is Parley's media path: it receives RTP from publishers and
// forwards it, undecoded, to subscribers. It knows peers, tracks, receivers and
// forwarders, never rooms or grants: the room package decides who gets what.
package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Config says where media flows.
type Config struct {
	// ListenIP is the address the media port binds; nil or unspecified binds all.
	ListenIP net.IP
	// Port is the UDP port (ICE UDP mux) and the ICE-TCP port; 0 picks a free one.
	Port int
	// PublicIPs, when set, are announced in place of local addresses (1:1 NAT).
	PublicIPs []string
	// Candidates, when set, limits the remote candidates clients may name
	// (candidates.go); nil admits any.
	Candidates *CandidatePolicy
	Logger     *slog.Logger
	// RelayPorts bounds the UDP ports of connections to other nodes (rooms
	// that span nodes); zero: the system's ephemeral ports.
	RelayPorts [2]uint16
	// ForwardInterceptors see every forwarded packet before SRTP seals it. Tests use
	// them to play a hostile server (one that replays end-to-end encrypted frames).
	ForwardInterceptors []interceptor.Factory
}

// Engine owns the media sockets and the WebRTC API objects all peers share.
type Engine struct {
	log    *slog.Logger
	pubAPI *webrtc.API // connections where clients publish to us
	subAPI *webrtc.API // connections where we forward to clients
	// relaySubAPI and relayPubAPI link to another node's part of a room
	// (NewRelayPeer). Pion's UDP mux routes by remote address, so two
	// connections between the same two media ports cannot coexist: relay
	// connections take a port of their own (UDP only, the node's own
	// address). relaySubAPI passes the audio level on, so the other node
	// finds the active speaker too.
	relaySubAPI, relayPubAPI *webrtc.API
	udp                      *net.UDPConn
	tcp                      net.Listener
	udpMux                   ice.UDPMux
	tcpMux                   ice.TCPMux

	mu    sync.Mutex
	peers map[*Peer]struct{}

	candidates *CandidatePolicy

	// subCodecs are the codecs (payload types included) the "sub" connections
	// offer, so a forwarder can ask for exactly its source's codec and its RTX.
	subCodecs []webrtc.RTPCodecParameters

	stats *counters // shared by the engine's receivers and forwarders

	stopReports  chan struct{} // closed by Close: ends reportLoop
	reportsEnded chan struct{}
	closeOnce    sync.Once
}

// NewEngine binds the media port (UDP and TCP, same number) and prepares the APIs.
func NewEngine(cfg Config) (*Engine, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	udp, tcp, err := listenMedia(cfg.ListenIP, cfg.Port)
	if err != nil {
		return nil, err
	}
	e := &Engine{log: log, udp: udp, tcp: tcp, peers: map[*Peer]struct{}{}, candidates: cfg.Candidates, stats: newCounters()}
	e.udpMux = webrtc.NewICEUDPMux(pionLogs{log}.NewLogger("udpmux"), udp)
	e.tcpMux = webrtc.NewICETCPMux(pionLogs{log}.NewLogger("tcpmux"), tcp, 32)

	se := webrtc.SettingEngine{LoggerFactory: pionLogs{log}}
	se.SetICEUDPMux(e.udpMux)
	se.SetICETCPMux(e.tcpMux)
	se.SetNetworkTypes([]webrtc.NetworkType{
		webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6,
		webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6,
	})
	se.SetIncludeLoopbackCandidate(true)
	// The server has only host candidates: a better pair than one the client
	// reached through its relay (or one learned from its checks) will not
	// turn up by waiting. Pion's defaults (2 s, 1 s) delay every relay-only
	// client's media by that much, at each join and each reconnection.
	se.SetRelayAcceptanceMinWait(200 * time.Millisecond)
	se.SetPrflxAcceptanceMinWait(200 * time.Millisecond)
	// mDNS would open a multicast socket and talk to the LAN: Parley stays quiet.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Announce only the address we are bound to, not every interface of the host.
	if ip := cfg.ListenIP; ip != nil && !ip.IsUnspecified() {
		se.SetIPFilter(func(c net.IP) bool { return c.Equal(ip) })
	}
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	// AES-GCM first: cheaper per packet than AES-CM+HMAC where the CPU has AES-NI.
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)

	if e.pubAPI, err = newAPI(se, true, false, nil); err != nil {
		e.Close()
		return nil, err
	}
	if e.subAPI, err = newAPI(se, false, false, cfg.ForwardInterceptors); err != nil {
		e.Close()
		return nil, err
	}
	rse := se
	rse.SetICEUDPMux(nil)
	rse.SetICETCPMux(nil)
	rse.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if lo, hi := cfg.RelayPorts[0], cfg.RelayPorts[1]; lo != 0 && hi >= lo {
		if err := rse.SetEphemeralUDPPortRange(lo, hi); err != nil {
			e.Close()
			return nil, err
		}
	}
	if e.relaySubAPI, err = newAPI(rse, false, true, cfg.ForwardInterceptors); err != nil {
		e.Close()
		return nil, err
	}
	if e.relayPubAPI, err = newAPI(rse, true, false, nil); err != nil {
		e.Close()
		return nil, err
	}
	if e.subCodecs, err = offeredCodecs(e.subAPI); err != nil {
		e.Close()
		return nil, err
	}
	e.stopReports, e.reportsEnded = make(chan struct{}), make(chan struct{})
	go e.reportLoop()
	return e, nil
}

// listenMedia binds UDP and TCP on one port number. With port 0 it picks a
// free UDP port and tries again when TCP is taken on that number.
func listenMedia(ip net.IP, port int) (*net.UDPConn, *net.TCPListener, error) {
	for try := 0; ; try++ {
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			return nil, nil, fmt.Errorf("media UDP port: %w", err)
		}
		// Room for bursts (a join storm, keyframes to many subscribers at
		// once). The kernel caps this at net.core.rmem_max/wmem_max.
		_ = udp.SetReadBuffer(8 << 20)
		_ = udp.SetWriteBuffer(8 << 20)
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: p})
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != 0 || try == 20 {
			return nil, nil, fmt.Errorf("media ICE-TCP port: %w", err)
		}
	}
}

func newAPI(se webrtc.SettingEngine, publish, relay bool, extra []interceptor.Factory) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	if relay {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if publish {
		// Audio levels (RFC 6464) let the server find the active speaker without decoding.
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
		// NACK generation, receiver reports, TWCC feedback for the publisher's
		// congestion control, simulcast header extensions: pion's defaults
		// without its statistics interceptor, which costs every received
		// packet a lock and a map lookup for a getStats Parley never calls.
		if err := webrtc.ConfigureNack(m, ir); err != nil {
			return nil, err
		}
		if err := webrtc.ConfigureRTCPReports(ir); err != nil {
			return nil, err
		}
		if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
			return nil, err
		}
		if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
			return nil, err
		}
	} else {
		// Forwarders answer NACKs from the receiver's shared cache, number
		// packets for transport-wide feedback themselves (without allocating),
		// and the engine sends their sender reports (sendreport.go): no
		// interceptor stands between a forwarder and the connection.
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range extra {
		ir.Add(f)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// offeredCodecs lists what api's connections send, with payload types: pion
// keeps its media engine's table to itself, so ask a connection that is
// never used.
func offeredCodecs(api *webrtc.API) ([]webrtc.RTPCodecParameters, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var out []webrtc.RTPCodecParameters
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		t, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		out = append(out, t.Sender().GetParameters().Codecs...)
	}
	return out, nil
}

// Port is the media port number (UDP and TCP).
func (e *Engine) Port() int { return e.udp.LocalAddr().(*net.UDPAddr).Port }

// Close releases the media sockets. Peers must be closed first.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		if e.stopReports != nil {
			close(e.stopReports)
			<-e.reportsEnded
		}
	})
	var errs []error
	if e.udpMux != nil {
		errs = append(errs, e.udpMux.Close())
	}
	if e.tcpMux != nil {
		errs = append(errs, e.tcpMux.Close())
	}
	errs = append(errs, e.udp.Close(), e.tcp.Close())
	var out []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}
