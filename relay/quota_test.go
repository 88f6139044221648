package relay

import (
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// turnCode is the TURN error code of an Allocate that failed, or 0.
func turnCode(err error) stun.ErrorCode {
	var te stun.TurnError
	if errors.As(err, &te) {
		return te.ErrorCodeAttr.Code
	}
	var tp *stun.TurnError
	if errors.As(err, &tp) {
		return tp.ErrorCodeAttr.Code
	}
	return 0
}

// waitFor polls ok until it holds or d passes.
func waitFor(d time.Duration, ok func() bool) bool {
	for end := time.Now().Add(d); ; {
		if ok() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRelayQuotaRefusesAllocationsBeyondIt(t *testing.T) {
	s := startTest(t, net.IPv4(127, 0, 0, 1))
	user, pass := s.Credentials("PA_1", time.Now().Add(time.Hour))
	var held []net.PacketConn
	for i := range PerParticipant {
		_, rc, err := allocate(t, s, user, pass)
		if err != nil {
			t.Fatalf("allocation %d of %d refused: %v", i+1, PerParticipant, err)
		}
		held = append(held, rc)
	}
	refused := 0
	for range 5 { // a client looping on Allocate, as in issue 13
		_, _, err := allocate(t, s, user, pass)
		if err == nil {
			t.Fatal("an allocation beyond the quota was granted")
		}
		if c := turnCode(err); c != stun.CodeAllocQuotaReached {
			t.Fatalf("beyond the quota: %v (code %d), want 486", err, c)
		}
		refused++
	}
	st := s.Stats()
	if st.Allocations != PerParticipant || st.RefusedQuota != uint64(refused) {
		t.Errorf("stats %+v: want %d allocations and %d refused for the quota", st, PerParticipant, refused)
	}
	t.Logf("%d allocations granted, %d refused (486)", st.Allocations, st.RefusedQuota)

	// The quota is per session: another participant is not held back.
	other, otherPass := s.Credentials("PA_2", time.Now().Add(time.Hour))
	if _, _, err := allocate(t, s, other, otherPass); err != nil {
		t.Fatalf("another participant refused: %v", err)
	}
	// Releasing one allocation makes room for one more.
	if err := held[0].Close(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Second, func() bool { return s.Stats().Allocations == PerParticipant }) {
		t.Fatalf("the released allocation is still counted: %+v", s.Stats())
	}
	if _, _, err := allocate(t, s, user, pass); err != nil {
		t.Fatalf("an allocation within the quota again was refused: %v", err)
	}
}

func TestRelayRevokeEndsCredentialsAndClosesAllocations(t *testing.T) {
	sfu, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sfu.Close()
	s := startTest(t, net.IPv4(127, 0, 0, 1))
	user, pass := s.Credentials("PA_1", time.Now().Add(time.Hour))
	baseline := runtime.NumGoroutine()
	const n = 3
	var clients []*turn.Client
	var relayed []net.PacketConn
	for range n {
		c, rc, err := allocate(t, s, user, pass)
		if err != nil {
			t.Fatal(err)
		}
		clients, relayed = append(clients, c), append(relayed, rc)
	}
	// The allocation relays to the SFU before the session ends.
	if _, err := relayed[0].WriteTo([]byte("before"), sfu.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = sfu.SetReadDeadline(time.Now().Add(2 * time.Second))
	m, from, err := sfu.ReadFrom(buf)
	if err != nil || string(buf[:m]) != "before" {
		t.Fatalf("relaying before the revocation: %q, %v", buf[:m], err)
	}
	during := runtime.NumGoroutine()

	s.Revoke("PA_1")
	if st := s.Stats(); st.Allocations != 0 || st.Revoked != n || st.Sessions != 0 {
		t.Fatalf("after Revoke: %+v, want no allocation, %d revoked, no session", st, n)
	}
	// The relayed socket is closed: the SFU's packets no longer reach the client...
	if _, err := sfu.WriteTo([]byte("after"), from); err != nil {
		t.Fatal(err)
	}
	_ = relayed[0].SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if m, _, err := relayed[0].ReadFrom(buf); err == nil {
		t.Fatalf("the client still received %q through a revoked allocation", buf[:m])
	}
	// ...nor the client's the SFU.
	_, _ = relayed[1].WriteTo([]byte("after"), sfu.LocalAddr())
	_ = sfu.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if m, _, err := sfu.ReadFrom(buf); err == nil {
		t.Fatalf("the SFU still received %q through a revoked allocation", buf[:m])
	}
	// The allocations' goroutines are gone (one per allocation in pion).
	if !waitFor(time.Second, func() bool { return runtime.NumGoroutine() <= during-n }) {
		t.Errorf("goroutines: %d before allocating, %d with %d allocations, %d a second after the revocation",
			baseline, during, n, runtime.NumGoroutine())
	}
	t.Logf("goroutines: %d before allocating, %d with %d allocations, %d after the revocation",
		baseline, during, n, runtime.NumGoroutine())

	// The credentials are refused though their HMAC and expiry are valid.
	if _, _, err := allocate(t, s, user, pass); err == nil {
		t.Fatal("the credentials of an ended session were accepted")
	}
	if st := s.Stats(); st.RefusedRevoked != 1 {
		t.Errorf("refused for revocation: %d, want 1", st.RefusedRevoked)
	}
	// So is a permission on an allocation made before, were one left.
	if err := clients[2].CreatePermission(sfu.LocalAddr()); err == nil {
		t.Error("a revoked session's credentials created a permission")
	}

	// The same participant id in a new session (a seat taken back) gets new
	// credentials; the old ones stay refused.
	user2, pass2 := s.Credentials("PA_1", time.Now().Add(time.Hour))
	if user2 == user {
		t.Fatalf("a new session got the old session's username %q", user)
	}
	if _, _, err := allocate(t, s, user2, pass2); err != nil {
		t.Fatalf("the new session's credentials were refused: %v", err)
	}
	if _, _, err := allocate(t, s, user, pass); err == nil {
		t.Fatal("the old session's credentials work again in the new session")
	}
	s.Revoke("PA_unknown") // no session: nothing to do
}

func TestRelayRefusesCredentialsMintedBeforeARestart(t *testing.T) {
	before := startTest(t, net.IPv4(127, 0, 0, 1))
	user, pass := before.Credentials("PA_1", time.Now().Add(time.Hour))
	before.Close()
	after := startTest(t, net.IPv4(127, 0, 0, 1)) // same secret, a new process
	if _, _, err := allocate(t, after, user, pass); err == nil {
		t.Fatal("credentials minted before the restart were accepted")
	}
	if st := after.Stats(); st.RefusedRevoked != 1 || st.Allocations != 0 {
		t.Errorf("stats %+v: want 1 refused (revoked), no allocation", st)
	}
}

func TestRelayNodeCapRefusesAllocations(t *testing.T) {
	s, err := Start(Config{ListenIP: net.IPv4(127, 0, 0, 1), Secret: []byte("0123456789abcdef0123"), MaxAllocations: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, aPass := s.Credentials("PA_a", time.Now().Add(time.Hour))
	b, bPass := s.Credentials("PA_b", time.Now().Add(time.Hour))
	var held []net.PacketConn
	for _, c := range [][2]string{{a, aPass}, {a, aPass}, {b, bPass}} {
		_, rc, err := allocate(t, s, c[0], c[1])
		if err != nil {
			t.Fatalf("allocation under the node's cap refused: %v", err)
		}
		held = append(held, rc)
	}
	third, thirdPass := s.Credentials("PA_c", time.Now().Add(time.Hour))
	_, _, err = allocate(t, s, third, thirdPass)
	if c := turnCode(err); c != stun.CodeInsufficientCapacity {
		t.Fatalf("an allocation over the node's cap: %v (code %d), want 508", err, c)
	}
	if st := s.Stats(); st.RefusedFull != 1 || st.Allocations != 3 || st.RefusedQuota != 0 {
		t.Errorf("stats %+v: want 1 refused for the node cap, 3 held", st)
	}
	_ = held[0].Close()
	if !waitFor(time.Second, func() bool { return s.Stats().Allocations == 2 }) {
		t.Fatalf("the released allocation is still counted: %+v", s.Stats())
	}
	if _, _, err := allocate(t, s, third, thirdPass); err != nil {
		t.Fatalf("an allocation under the cap again was refused: %v", err)
	}
}

// exchange sends m from conn to the relay and returns its answer.
func exchange(t *testing.T, conn net.PacketConn, s *Server, m *stun.Message) *stun.Message {
	t.Helper()
	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.Port()}
	buf := make([]byte, 1500)
	for range 5 {
		if _, err := conn.WriteTo(m.Raw, addr); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			continue
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := res.Decode(); err != nil {
			t.Fatal(err)
		}
		if res.TransactionID == m.TransactionID {
			return res
		}
	}
	t.Fatalf("no answer to %v", m)
	return nil
}

// rawAllocate sends an Allocate asking for lifetime, as a client other than a
// browser may, and returns the lifetime granted.
func rawAllocate(t *testing.T, s *Server, user, pass string, lifetime time.Duration) time.Duration {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	udp := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	life := stun.RawAttribute{Type: stun.AttrLifetime, Value: binary.BigEndian.AppendUint32(nil, uint32(lifetime/time.Second))}
	res := exchange(t, conn, s, stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udp, life, stun.Fingerprint))
	var nonce stun.Nonce
	if err := nonce.GetFrom(res); err != nil {
		t.Fatalf("no nonce in %v: %v", res, err)
	}
	res = exchange(t, conn, s, stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udp, life,
		stun.NewUsername(user), stun.NewRealm(Realm), nonce, stun.NewLongTermIntegrity(user, Realm, pass), stun.Fingerprint))
	if res.Type != stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse) {
		var code stun.ErrorCodeAttribute
		_ = code.GetFrom(res)
		t.Fatalf("allocate asking for %v: %v %v", lifetime, res.Type, code)
	}
	// The answer is signed with the client's key: the cut is not a forgery.
	if err := stun.NewLongTermIntegrity(user, Realm, pass).Check(res); err != nil {
		t.Fatalf("the answer's integrity: %v", err)
	}
	v, err := res.Get(stun.AttrLifetime)
	if err != nil || len(v) != 4 {
		t.Fatalf("no lifetime in the answer: %v", err)
	}
	return time.Duration(binary.BigEndian.Uint32(v)) * time.Second
}

func TestRelayCapsAllocationLifetime(t *testing.T) {
	s := startTest(t, net.IPv4(127, 0, 0, 1))
	user, pass := s.Credentials("PA_1", time.Now().Add(time.Hour))
	for _, c := range []struct{ ask, want time.Duration }{
		{50 * time.Minute, DefaultMaxLifetime}, // pion alone would grant it
		{2 * time.Hour, DefaultMaxLifetime},    // pion alone would grant its default
		{time.Minute, time.Minute},             // under the cap: as asked
	} {
		if got := rawAllocate(t, s, user, pass, c.ask); got != c.want {
			t.Errorf("asked for %v, granted %v; want %v", c.ask, got, c.want)
		}
	}
	if st := s.Stats(); st.LifetimesCapped != 2 {
		t.Errorf("lifetimes capped: %d, want 2", st.LifetimesCapped)
	}
	// A browser asks for no lifetime and gets the cap.
	c, _, err := allocate(t, s, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	_ = c

	// The cap is what the allocation lives: with a 1 s cap, an allocation
	// that asked for 50 minutes ends by itself a second later.
	short, err := Start(Config{ListenIP: net.IPv4(127, 0, 0, 1), Secret: []byte("0123456789abcdef0123"), MaxLifetime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { short.Close() })
	user, pass = short.Credentials("PA_1", time.Now().Add(time.Hour))
	if got := rawAllocate(t, short, user, pass, 50*time.Minute); got != time.Second {
		t.Fatalf("granted %v with a 1 s cap", got)
	}
	if st := short.Stats(); st.Allocations != 1 {
		t.Fatalf("allocations: %d, want 1", st.Allocations)
	}
	start := time.Now()
	if !waitFor(3*time.Second, func() bool { return short.Stats().Allocations == 0 }) {
		t.Fatalf("the allocation outlived its capped lifetime: %+v", short.Stats())
	}
	t.Logf("the allocation ended %v after it was granted 1 s", time.Since(start).Round(10*time.Millisecond))
}
