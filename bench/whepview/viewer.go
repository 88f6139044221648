// Package whepview is a WHEP player built for load runs, light enough that
// one core plays thousands of streams. A Pion peer connection costs its
// receiver 11-12 µs of CPU per packet (four goroutine hand-offs in its
// receive path, every packet decrypted), more than the server spends sending
// it, so a load tool made of them saturates before the server does.
//
// A Viewer does the least a real WebRTC receiver must: it offers recvonly
// audio and video over WHEP, runs ICE as the controlling agent on a socket
// of its own, completes DTLS-SRTP with the server's certificate checked
// against the answer's fingerprint, and sends receiver reports. Its one
// Reader reads the sockets of all viewers (epoll and recvmmsg on one
// goroutine): each packet is counted as RTP by the sequence number
// in the clear header, and decrypts (and so authenticates) only one packet
// in Sample, enough to measure latency. It sends no NACKs and no congestion
// feedback, so what it reports lost is lost.
package whepview

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/deadline"
)

// Certificate is the DTLS identity viewers present; one serves any number.
type Certificate struct {
	tls         tls.Certificate
	fingerprint string // "sha-256 AB:CD:..."
}

// NewCertificate makes a self-signed ECDSA certificate, as browsers do.
func NewCertificate() (*Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &Certificate{
		tls:         tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		fingerprint: "sha-256 " + fingerprintOf(der),
	}, nil
}

func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	return strings.ToUpper(strings.Join(splitPairs(hex.EncodeToString(sum[:])), ":"))
}

func splitPairs(s string) []string {
	out := make([]string, 0, len(s)/2)
	for i := 0; i+1 < len(s); i += 2 {
		out = append(out, s[i:i+2])
	}
	return out
}

// Options describe one WHEP session.
type Options struct {
	// Endpoint is the WHEP URL, e.g. http://127.0.0.1:7880/whep/ROOM/IDENTITY.
	Endpoint string
	Token    string
	Cert     *Certificate
	// Sample: one RTP packet in Sample is decrypted and handed over with a
	// clear payload; the others come with the payload still encrypted
	// (default 16; 1 decrypts all).
	Sample int
	// OnTrack is called at the first packet of each kind ("audio", "video")
	// and returns the function that gets every packet of it: the whole RTP
	// packet, its arrival (Unix ns), and whether its payload is decrypted.
	OnTrack func(kind string) func(pkt []byte, at int64, clear bool)
	// HTTP sends the WHEP requests (nil: http.DefaultClient).
	HTTP *http.Client
	// Reader reads the viewer's socket; one serves any number of viewers.
	Reader *Reader
	// ReceiveBuffer is the socket's receive buffer in bytes (default 1 MiB;
	// the kernel doubles it, within net.core.rmem_max).
	ReceiveBuffer int
}

// Viewer is one WHEP session in progress.
type Viewer struct {
	opt      Options
	fd       int
	to       sockaddr     // the server's candidate
	remote   *net.UDPAddr // the same, for DTLS
	resource string       // the session's URL, for DELETE
	ice      iceCreds
	answer   *answer
	// slot of each payload type: 1 audio, 2 video, 0 neither (an array:
	// a map lookup was a tenth of the reader's time)
	slots [128]uint8

	dtlsIn   chan []byte
	dtlsConn *dtls.Conn
	srtpIn   atomic.Pointer[srtp.Context] // set once DTLS is done; read by the loop only
	outMu    sync.Mutex                   // srtcpOut is used by reports and the reader's keyframe requests
	srtcpOut *srtp.Context                // under outMu
	lastPLI  int64                        // the reader's: when it last asked for a keyframe (Unix ns)

	// ready is set once the answer is read: the server's checks can come
	// before its answer does, and handle drops what comes before.
	ready     atomic.Bool
	connected chan struct{} // closed at the first ICE success response
	connOnce  sync.Once

	tracksMu sync.Mutex
	tracks   [2]*track // audio, video; written by handle, read by reports
	hdr      rtp.Header
	clear    [1600]byte // handle's decryption buffer

	// PLIs counts the keyframe requests sent.
	PLIs atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed atomic.Pointer[error]
}

type iceCreds struct{ lufrag, lpwd string } // ours; the server's are in answer

// track is one received stream's counters, for receiver reports.
type track struct {
	kind     string
	ssrc     uint32
	deliver  func([]byte, int64, bool)
	base     int64 // first extended sequence number
	high     atomic.Int64
	received atomic.Int64
	// last report's state, for the fraction lost
	prevExpected, prevReceived int64
	count                      int // packets seen, for sampling
}

var errClosed = errors.New("whepview: closed")

// Dial offers, connects ICE and DTLS, and returns once SRTP keys are in
// place; packets then flow to OnTrack until Close.
func Dial(ctx context.Context, opt Options) (*Viewer, error) {
	if opt.Sample <= 0 {
		opt.Sample = 16
	}
	if opt.HTTP == nil {
		opt.HTTP = http.DefaultClient
	}
	if opt.ReceiveBuffer <= 0 {
		// Bursts (a keyframe to every viewer at once) arrive faster than
		// one core reads thousands of sockets.
		opt.ReceiveBuffer = 1 << 20
	}
	if opt.Reader == nil {
		return nil, errors.New("whepview: Options.Reader is required")
	}
	vctx, cancel := context.WithCancel(context.Background())
	v := &Viewer{
		opt: opt, fd: -1, dtlsIn: make(chan []byte, 16), connected: make(chan struct{}),
		ice: iceCreds{lufrag: randomString(8), lpwd: randomString(24)},
		ctx: vctx, cancel: cancel,
	}
	fd, port, err := opt.Reader.socket(v, opt.ReceiveBuffer)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("whepview: socket: %w", err)
	}
	v.fd = fd
	if err := v.signal(ctx, port); err != nil {
		v.Close()
		return nil, err
	}
	if err := v.connect(ctx); err != nil {
		v.Close()
		return nil, err
	}
	v.wg.Add(1)
	go v.reportLoop()
	return v, nil
}

// Err reports why the session ended on its own, or nil.
func (v *Viewer) Err() error {
	if e := v.failed.Load(); e != nil {
		return *e
	}
	return nil
}

func (v *Viewer) fail(err error) {
	v.failed.CompareAndSwap(nil, &err)
}

// Close ends the session with the server (DELETE) and releases the socket.
func (v *Viewer) Close() {
	if v.resource != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, v.resource, nil); err == nil {
			req.Header.Set("Authorization", "Bearer "+v.opt.Token)
			if resp, err := v.opt.HTTP.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		cancel()
		v.resource = ""
	}
	v.cancel()
	if v.dtlsConn != nil {
		_ = v.dtlsConn.Close()
	}
	v.wg.Wait()
	if v.fd >= 0 {
		v.opt.Reader.release(v.fd)
		v.fd = -1
	}
}

// signal posts the offer and reads the answer.
func (v *Viewer) signal(ctx context.Context, port int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.opt.Endpoint, strings.NewReader(v.offer(port)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+v.opt.Token)
	resp, err := v.opt.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("whep: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("whep: the answer has no Location: %w", err)
	}
	v.resource = loc.String()
	a, err := parseAnswer(string(body))
	if err != nil {
		return err
	}
	v.remote = a.candidate
	for pt, kind := range a.kinds {
		switch kind {
		case "audio":
			v.slots[pt] = 1
		case "video":
			v.slots[pt] = 2
		}
	}
	v.to = toSockaddr(a.candidate)
	v.answer = a
	v.ready.Store(true) // publishes the fields above to handle
	return nil
}

// connect runs ICE checks until one succeeds, then DTLS.
func (v *Viewer) connect(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for sent := 0; ; sent++ {
		if err := v.sendCheck(); err != nil {
			return err
		}
		select {
		case <-v.connected:
			return v.handshake(ctx)
		case <-ctx.Done():
			return fmt.Errorf("ice: no answer to %d checks: %w", sent+1, ctx.Err())
		case <-t.C:
		}
	}
}

// handshake runs DTLS in the role the answer gave the server and derives
// the SRTP contexts.
func (v *Viewer) handshake(ctx context.Context) error {
	pc := &dtlsPacketConn{v: v, deadline: deadline.New()}
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 || !strings.EqualFold(fingerprintOf(raw[0]), v.answer.fingerprint) {
			return errors.New("the server's certificate does not match the answer's fingerprint")
		}
		return nil
	}
	profiles := []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80}
	shared := []dtls.Option{
		dtls.WithCertificates(v.opt.Cert.tls),
		dtls.WithSRTPProtectionProfiles(profiles...),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithInsecureSkipVerify(true), // self-signed: the fingerprint is the check
		dtls.WithVerifyPeerCertificate(verify),
	}
	var (
		c        *dtls.Conn
		err      error
		isClient = v.answer.setup == "passive"
	)
	if isClient {
		opts := make([]dtls.ClientOption, len(shared))
		for i, o := range shared {
			opts[i] = o
		}
		c, err = dtls.ClientWithOptions(pc, v.remote, opts...)
	} else {
		opts := make([]dtls.ServerOption, 0, len(shared)+1)
		for _, o := range shared {
			opts = append(opts, o)
		}
		opts = append(opts, dtls.WithClientAuth(dtls.RequireAnyClientCert))
		c, err = dtls.ServerWithOptions(pc, v.remote, opts...)
	}
	if err != nil {
		return fmt.Errorf("dtls: %w", err)
	}
	v.dtlsConn = c
	if err := c.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("dtls: %w", err)
	}
	prof, ok := c.SelectedSRTPProtectionProfile()
	if !ok {
		return errors.New("dtls: no SRTP profile was chosen")
	}
	var profile srtp.ProtectionProfile
	switch prof {
	case dtls.SRTP_AEAD_AES_128_GCM:
		profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return fmt.Errorf("dtls: unexpected SRTP profile %v", prof)
	}
	state, _ := c.ConnectionState()
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, isClient); err != nil {
		return fmt.Errorf("srtp: %w", err)
	}
	in, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, profile)
	if err != nil {
		return fmt.Errorf("srtp: %w", err)
	}
	out, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile)
	if err != nil {
		return fmt.Errorf("srtp: %w", err)
	}
	v.outMu.Lock()
	v.srtcpOut = out
	v.outMu.Unlock()
	v.srtpIn.Store(in)
	return nil
}

// handle takes one datagram, on the reader's goroutine: STUN, DTLS and
// SRTP share the socket (RFC 7983 tells them apart by the first byte).
func (v *Viewer) handle(pkt []byte, at int64) {
	if len(pkt) == 0 || !v.ready.Load() {
		return
	}
	switch b := pkt[0]; {
	case b < 4:
		v.stun(pkt)
	case b >= 20 && b < 64:
		select {
		case v.dtlsIn <- append([]byte(nil), pkt...):
		default:
		}
	case b >= 128 && b < 192:
		if len(pkt) < 12 || (pkt[1]&0x7f >= 64 && pkt[1]&0x7f < 96) {
			return // RTCP (payload types 192-223 with the marker bit): the server's reports
		}
		in := v.srtpIn.Load()
		if in == nil {
			return
		}
		t := v.track(pkt)
		if t == nil {
			return
		}
		t.count++
		if t.count%v.opt.Sample != 0 {
			t.deliver(pkt, at, false)
			return
		}
		if _, err := v.hdr.Unmarshal(pkt); err != nil {
			return
		}
		if dec, err := in.DecryptRTP(v.clear[:0], pkt, &v.hdr); err == nil {
			t.deliver(dec, at, true)
		} else {
			t.deliver(pkt, at, false)
		}
	}
}

// track finds (or starts) the counters of the packet's stream and counts it.
func (v *Viewer) track(pkt []byte) *track {
	slot := v.slots[pkt[1]&0x7f]
	if slot == 0 {
		return nil
	}
	i, kind := 0, "audio"
	if slot == 2 {
		i, kind = 1, "video"
	}
	seq := int64(binary.BigEndian.Uint16(pkt[2:]))
	ssrc := binary.BigEndian.Uint32(pkt[8:])
	t := v.tracks[i]
	if t == nil || t.ssrc != ssrc {
		deliver := func([]byte, int64, bool) {}
		if t != nil {
			deliver = t.deliver
		} else if v.opt.OnTrack != nil {
			deliver = v.opt.OnTrack(kind)
		}
		t = &track{kind: kind, ssrc: ssrc, deliver: deliver, base: seq}
		t.high.Store(seq)
		v.tracksMu.Lock()
		v.tracks[i] = t
		v.tracksMu.Unlock()
	}
	high := t.high.Load()
	if ext := high + int64(int16(uint16(seq)-uint16(high))); ext > high {
		t.high.Store(ext)
		if ext > high+1 && i == 1 {
			// Packets of a picture are missing and the viewer does not
			// retransmit: a browser asks for a keyframe when it cannot
			// decode, and so does this one.
			v.requestKeyframe(t.ssrc)
		}
	}
	t.received.Add(1)
	return t
}

// requestKeyframe sends a picture loss indication, at most one each 300 ms.
func (v *Viewer) requestKeyframe(media uint32) {
	now := time.Now().UnixNano()
	if now-v.lastPLI < int64(300*time.Millisecond) {
		return
	}
	v.lastPLI = now
	v.PLIs.Add(1)
	_ = v.sendRTCP(&rtcp.PictureLossIndication{SenderSSRC: v.ssrc(), MediaSSRC: media})
}

// ssrc is the viewer's own, for its reports.
func (v *Viewer) ssrc() uint32 { return uint32(tieBreaker) | 1 }

// sendRTCP encrypts and sends one RTCP packet.
func (v *Viewer) sendRTCP(p rtcp.Packet) error {
	raw, err := p.Marshal()
	if err != nil {
		return err
	}
	var h rtcp.Header
	if err := h.Unmarshal(raw); err != nil {
		return err
	}
	v.outMu.Lock()
	enc, err := v.srtcpOut.EncryptRTCP(nil, raw, &h)
	v.outMu.Unlock()
	if err != nil {
		return err
	}
	return send(v.fd, v.to, enc)
}

// StopReading leaves the viewer's packets in its socket, as a player that
// stalls does: once the socket's buffer is full, the kernel drops the rest.
// ResumeReading reads again.
func (v *Viewer) StopReading() { v.opt.Reader.pause(v.fd) }

// ResumeReading undoes StopReading.
func (v *Viewer) ResumeReading() { v.opt.Reader.resume(v.fd) }

// stun answers the server's connectivity checks and notes the answer to ours.
func (v *Viewer) stun(pkt []byte) {
	from := v.remote // the only peer a viewer talks to
	m := &stun.Message{Raw: append([]byte(nil), pkt...)}
	if err := m.Decode(); err != nil {
		return
	}
	switch m.Type {
	case stun.BindingRequest:
		// Its USERNAME is "ours:theirs", integrity keyed with our password.
		var user stun.Username
		if err := user.GetFrom(m); err != nil || !strings.HasPrefix(user.String(), v.ice.lufrag+":") {
			return
		}
		if err := stun.NewShortTermIntegrity(v.ice.lpwd).Check(m); err != nil {
			return
		}
		resp, err := stun.Build(m, stun.BindingSuccess,
			&stun.XORMappedAddress{IP: from.IP, Port: from.Port},
			stun.NewShortTermIntegrity(v.ice.lpwd), stun.Fingerprint)
		if err == nil {
			_ = send(v.fd, v.to, resp.Raw)
		}
	case stun.BindingSuccess:
		if err := stun.NewShortTermIntegrity(v.answer.pwd).Check(m); err != nil {
			return
		}
		v.connOnce.Do(func() { close(v.connected) })
	}
}

// sendCheck sends one nominating connectivity check (aggressive nomination).
func (v *Viewer) sendCheck() error {
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(v.answer.ufrag+":"+v.ice.lufrag),
		stun.RawAttribute{Type: stun.AttrICEControlling, Value: binary.BigEndian.AppendUint64(nil, tieBreaker)},
		stun.RawAttribute{Type: stun.AttrUseCandidate},
		stun.RawAttribute{Type: stun.AttrPriority, Value: binary.BigEndian.AppendUint32(nil, 2130706431)},
		stun.NewShortTermIntegrity(v.answer.pwd), stun.Fingerprint)
	if err != nil {
		return err
	}
	return send(v.fd, v.to, m.Raw)
}

var tieBreaker = func() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}()

// reportLoop sends a receiver report for each stream every second: the
// server's estimate reads loss from them, and they keep its ICE consent.
func (v *Viewer) reportLoop() {
	defer v.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-t.C:
		}
		rr := rtcp.ReceiverReport{SSRC: v.ssrc()}
		v.tracksMu.Lock()
		for _, t := range v.tracks {
			if t != nil {
				rr.Reports = append(rr.Reports, t.report())
			}
		}
		v.tracksMu.Unlock()
		if err := v.sendRTCP(&rr); err != nil && v.ctx.Err() == nil {
			v.fail(fmt.Errorf("write: %w", err))
			return
		}
	}
}

// report is RFC 3550 6.4.1's reception report of t since the last one.
func (t *track) report() rtcp.ReceptionReport {
	high, received := t.high.Load(), t.received.Load()
	expected := high - t.base + 1
	lost := max(expected-received, 0)
	de, dr := expected-t.prevExpected, received-t.prevReceived
	t.prevExpected, t.prevReceived = expected, received
	var fraction uint8
	if de > 0 && dr < de {
		fraction = uint8((de - dr) * 256 / de)
	}
	return rtcp.ReceptionReport{
		SSRC: t.ssrc, FractionLost: fraction, TotalLost: uint32(min(lost, 0x7fffff)),
		LastSequenceNumber: uint32(high),
	}
}

// dtlsPacketConn hands DTLS the records the read loop set aside, and writes
// to the server's address. Its read deadline is how DTLS stops its read loop
// when a handshake is given up: without it, a handshake that timed out
// waited for that loop for ever.
type dtlsPacketConn struct {
	v        *Viewer
	deadline *deadline.Deadline
}

func (p *dtlsPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case pkt := <-p.v.dtlsIn:
		return copy(b, pkt), p.v.remote, nil
	case <-p.deadline.Done():
		return 0, nil, os.ErrDeadlineExceeded
	case <-p.v.ctx.Done():
		return 0, nil, errClosed
	}
}

func (p *dtlsPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	if err := send(p.v.fd, p.v.to, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (p *dtlsPacketConn) Close() error                      { return nil }
func (p *dtlsPacketConn) LocalAddr() net.Addr               { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (p *dtlsPacketConn) SetDeadline(t time.Time) error     { p.deadline.Set(t); return nil }
func (p *dtlsPacketConn) SetReadDeadline(t time.Time) error { p.deadline.Set(t); return nil }
func (p *dtlsPacketConn) SetWriteDeadline(time.Time) error  { return nil }

func randomString(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// EndpointURL joins a base URL and the WHEP path of one identity.
func EndpointURL(base, room, identity string) string {
	return strings.TrimRight(base, "/") + "/whep/" + url.PathEscape(room) + "/" + url.PathEscape(identity)
}
