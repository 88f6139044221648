package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/bench/whepview"
	"github.com/parleyhq/parley/client"
)

// WHEPDriver publishes with WHIP (a Pion peer connection, as an encoder
// would) and plays with light WHEP viewers (bench/whepview), one session per
// watched publisher: the shape of a broadcast, and the standard protocols
// other servers speak too.
type WHEPDriver struct {
	cert   *whepview.Certificate
	http   *http.Client
	reader *whepview.Reader
	// Sample: a viewer decrypts one packet in Sample (whepview.Options.Sample).
	Sample int
}

// NewWHEPDriver makes the driver's certificate, HTTP client and the reader
// of its viewers' sockets; Close releases them.
func NewWHEPDriver(sample int) (*WHEPDriver, error) {
	cert, err := whepview.NewCertificate()
	if err != nil {
		return nil, err
	}
	reader, err := whepview.NewReader()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &WHEPDriver{cert: cert, reader: reader, http: &http.Client{Transport: tr, Timeout: joinTimeout}, Sample: sample}, nil
}

// Close stops the reader, once every session is closed.
func (d *WHEPDriver) Close() {
	d.reader.Close()
	d.http.CloseIdleConnections()
}

// Join implements Driver.
func (d *WHEPDriver) Join(ctx context.Context, p Participant) (Session, error) {
	if len(p.Publish) > 0 {
		return d.publish(ctx, p)
	}
	s := &viewers{}
	for _, id := range p.Watch {
		v, err := whepview.Dial(ctx, whepview.Options{
			Endpoint: whepview.EndpointURL(p.URL, p.Room, id), Token: p.Token, Cert: d.cert,
			Sample: d.Sample, HTTP: d.http, Reader: d.reader,
			OnTrack: func(kind string) func([]byte, int64, bool) {
				if p.OnTrack == nil {
					return func([]byte, int64, bool) {}
				}
				return p.OnTrack(kind, id)
			},
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("watch %s: %w", id, err)
		}
		s.vs = append(s.vs, v)
	}
	return s, nil
}

type viewers struct{ vs []*whepview.Viewer }

func (s *viewers) Err() error {
	for _, v := range s.vs {
		if err := v.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (s *viewers) Close() {
	for _, v := range s.vs {
		v.Close()
	}
}

// publish sends p's tracks with WHIP, waiting for the connection.
func (d *WHEPDriver) publish(ctx context.Context, p Participant) (Session, error) {
	api, err := client.NewLoadAPI()
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	s := &whipSession{pc: pc, token: p.Token, http: d.http, connected: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			s.once.Do(func() { close(s.connected) })
		case webrtc.PeerConnectionStateFailed:
			s.mu.Lock()
			s.err = errors.New("the WHIP connection failed")
			s.mu.Unlock()
		}
	})
	for _, t := range p.Publish {
		tr, err := pc.AddTransceiverFromTrack(t.Source.Track(), webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			s.Close()
			return nil, err
		}
		// Answers NACKs and keyframe requests; ends when the connection closes.
		go client.ReadRTCP(tr.Sender(), t.Source.Track())
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		s.Close()
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		s.Close()
		return nil, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	endpoint := strings.TrimRight(p.URL, "/") + "/whip/" + url.PathEscape(p.Room)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		s.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := d.http.Do(req)
	if err != nil {
		s.Close()
		return nil, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		s.Close()
		return nil, fmt.Errorf("whip: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if loc, err := resp.Location(); err == nil {
		s.resource = loc.String()
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		s.Close()
		return nil, fmt.Errorf("whip: %w", err)
	}
	select {
	case <-s.connected:
		return s, nil
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("whip: not connected: %w", ctx.Err())
	}
}

type whipSession struct {
	pc        *webrtc.PeerConnection
	token     string
	resource  string
	http      *http.Client
	connected chan struct{}
	once      sync.Once

	mu  sync.Mutex
	err error
}

func (s *whipSession) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *whipSession) Close() {
	if s.resource != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.resource, nil); err == nil {
			req.Header.Set("Authorization", "Bearer "+s.token)
			if resp, err := s.http.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		cancel()
	}
	_ = s.pc.Close()
}
