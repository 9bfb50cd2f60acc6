package cni

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// defaultLogFileMaxSize is log_file_max_size's default, in MB.
const defaultLogFileMaxSize = 100

// logger follows log_level (debug, info, warning, error; "none" is
// silent; default info) and log_file_path (appended to; default
// standard error, which the runtime records). A log file that has grown
// to log_file_max_size MB (default 100) becomes <path>.1, replacing the
// previous one, so a node keeps at most twice that.
func (c *NetConf) logger(plugin, containerID string) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		level = slog.LevelDebug
	case "warning", "warn":
		level = slog.LevelWarn
	case "error", "fatal", "panic":
		level = slog.LevelError
	case "none":
		return slog.New(slog.DiscardHandler)
	}
	var w io.Writer = os.Stderr
	if c.LogFilePath != "" {
		maxMB := c.LogFileMaxSize
		if maxMB <= 0 {
			maxMB = defaultLogFileMaxSize
		}
		if st, err := os.Stat(c.LogFilePath); err == nil && st.Size() >= int64(maxMB)<<20 {
			_ = os.Rename(c.LogFilePath, c.LogFilePath+".1")
		}
		if err := os.MkdirAll(filepath.Dir(c.LogFilePath), 0o755); err == nil {
			if f, err := os.OpenFile(c.LogFilePath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				w = f // closed by the process's exit
			}
		}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("plugin", plugin, "container", containerID)
}
