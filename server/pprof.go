package server

import (
	"net/http"
	"net/http/pprof"
)

// profiles serves Go's runtime profiles (CPU, heap, allocations, goroutines,
// execution traces), for finding where a loaded node spends its time and
// memory. Start mounts it behind the admin token: a profile shows the node's
// internals, and taking one costs CPU.
func profiles() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
