package source

import (
	"context"
	"log/slog"
	"time"
)

// WatchConfig says what a Watcher follows.
type WatchConfig struct {
	Dir      string
	Interval time.Duration // between polls; default 2 s
}

// Watcher follows a directory tree for new flow-log files by polling
// (portable, and correct on network file systems where inotify is not).
// A file is handed over once its size and modification time are the same
// in two consecutive polls, i.e. its writer is done, and only once: AWS
// writes each file whole, so a file that changes after it was taken is
// left alone (a copy under a new name is a new file; the server's content
// hash keeps a re-delivered file from being stored twice).
type Watcher struct {
	cfg    WatchConfig
	handle func(ctx context.Context, in Input) error
	log    *slog.Logger
	seen   map[string]*watchState
}

type watchState struct {
	size  int64
	mtime time.Time
	taken bool
}

// NewWatcher is inert; Run polls. handle is called for each new file, one
// at a time; an error is logged and the file is tried again at the next
// poll.
func NewWatcher(cfg WatchConfig, log *slog.Logger, handle func(ctx context.Context, in Input) error) *Watcher {
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, handle: handle, log: log, seen: map[string]*watchState{}}
}

// Run polls until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := w.Poll(ctx); err != nil {
			w.log.Warn("watch poll failed", "dir", w.cfg.Dir, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll looks once and hands over the files found stable; it returns how
// many were handed over successfully.
func (w *Watcher) Poll(ctx context.Context) (int, error) {
	inputs, err := ExpandPaths(ctx, []string{w.cfg.Dir}, SourceOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, in := range inputs {
		mtime := modTime(in.Local)
		st := w.seen[in.Name]
		if st == nil {
			w.seen[in.Name] = &watchState{size: in.Size, mtime: mtime}
			continue
		}
		if st.taken {
			continue
		}
		if st.size != in.Size || !st.mtime.Equal(mtime) || in.Size == 0 {
			st.size, st.mtime = in.Size, mtime
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if err := w.handle(ctx, in); err != nil {
			w.log.Warn("watch: import failed, will retry", "file", in.Name, "err", err)
			continue
		}
		st.taken = true
		n++
	}
	return n, nil
}
