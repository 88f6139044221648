package server

import (
	"log/slog"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/metrics"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/transcribe"
	"github.com/parleyhq/parley/translate"
)

// startTranscriber makes the node's speech recogniser client, or nil when no
// engine is configured (transcription is off by default). onHealth is told
// when the engine stops or starts answering.
func startTranscriber(cfg config.Config, log *slog.Logger, onHealth func(bool)) (*transcribe.Service, error) {
	if cfg.ASRURL == "" {
		return nil, nil
	}
	svc, err := transcribe.New(transcribe.Config{URL: cfg.ASRURL, Model: cfg.ASRModel, APIKey: cfg.ASRAPIKey,
		Language: cfg.ASRLanguage, Queue: cfg.ASRQueue, Stall: cfg.ASRStall, OnHealth: onHealth, Logger: log.With("part", "transcribe")})
	if err != nil {
		return nil, err
	}
	log.Info("meetings are transcribed", "engine", svc.Engine(), "model", cfg.ASRModel)
	return svc, nil
}

// transcriber lets the room use package transcribe, which knows no rooms.
type transcriber struct{ svc *transcribe.Service }

func (t transcriber) Transcribe(m room.TranscribeMeta, emit func(room.Transcript)) room.TrackTranscriber {
	return t.svc.Track(transcribe.Source{Track: m.Track, Participant: m.Participant, Identity: m.Identity,
		LevelID: m.LevelID, ClockRate: m.ClockRate}, m.Channel, m.Language, func(r transcribe.Result) {
		emit(room.Transcript{Channel: r.Channel, Language: r.Language, Start: r.Start, End: r.End,
			RTPStart: r.RTPStart, RTPEnd: r.RTPEnd, Text: r.Text, Engine: r.Engine, Model: r.Model, Late: r.Late})
	})
}

func (t transcriber) Answering() bool { return t.svc.Answering() }

// asrStats reads the recogniser's counters for metrics.
func asrStats(svc *transcribe.Service) func() metrics.ASRStats {
	return func() metrics.ASRStats {
		st := svc.Stats()
		return metrics.ASRStats{Segments: st.Segments, Empty: st.Empty, Errors: st.Errors, Retries: st.Retries,
			Dropped: st.Dropped, TapDropped: st.TapDropped, Answering: svc.Answering(),
			LatencyBuckets: st.Latency.Buckets, LatencyCounts: st.Latency.Counts, LatencySum: st.Latency.Sum, LatencyCount: st.Latency.Count}
	}
}

// startTranslator makes the node's machine translation client for captions,
// or returns nil when no engine is configured.
func startTranslator(cfg config.Config, log *slog.Logger) (room.Translator, error) {
	if cfg.TranslateURL == "" {
		return nil, nil
	}
	c, err := translate.New(translate.Options{URL: cfg.TranslateURL, Kind: cfg.TranslateKind, APIKey: cfg.TranslateAPIKey})
	if err != nil {
		return nil, err
	}
	if cfg.ASRURL == "" || cfg.ASRLanguage == "" {
		log.Warn("a translation engine is configured, but captions are translated only from floor speech of a known language: set asr_url and asr_language")
	}
	log.Info("captions are machine translated where no interpreter is live", "engine", c.Engine())
	return c, nil
}
