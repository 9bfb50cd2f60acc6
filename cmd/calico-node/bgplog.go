package main

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/calicong/calico/internal/node/flowlogs/logfile"
)

// bgpRecord is one BGP log as Linseed stores it (Calico Enterprise's
// BGP log fields).
type bgpRecord struct {
	LogTime   string `json:"logtime"`
	Message   string `json:"message"`
	IPVersion string `json:"ip_version"`
	Host      string `json:"host"`
}

// birdLine is BIRD's log line: its local time, then "<LEVEL> message".
var birdLine = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (.*)$`)

// bgpLogRecord turns a line of BIRD's output into a BGP log record. The
// IP version is that of the protocol the line is about (BIRD names
// protocols after their peers, Mesh_10_0_0_2 or Mesh_fd00__2; kernel6
// and the like end in 6); other lines are IPv4's.
func bgpLogRecord(line, host string, now time.Time) bgpRecord {
	r := bgpRecord{LogTime: now.UTC().Format(time.RFC3339Nano), Message: line, IPVersion: "IPv4", Host: host}
	if m := birdLine.FindStringSubmatch(line); m != nil {
		if t, err := time.ParseInLocation("2006-01-02 15:04:05.000", m[1], time.Local); err == nil {
			r.LogTime = t.UTC().Format(time.RFC3339Nano)
		} else if t, err := time.ParseInLocation("2006-01-02 15:04:05", m[1], time.Local); err == nil {
			r.LogTime = t.UTC().Format(time.RFC3339Nano)
		}
		r.Message = m[2]
	}
	if protocolIPv6(r.Message) {
		r.IPVersion = "IPv6"
	}
	return r
}

// protocolIPv6 says whether a message ("<INFO> Mesh_fd00__2: …") is
// about an IPv6 protocol.
func protocolIPv6(msg string) bool {
	if i := strings.Index(msg, "> "); i >= 0 {
		msg = msg[i+2:]
	}
	name, _, ok := strings.Cut(msg, ":")
	if !ok || strings.ContainsAny(name, " \t") {
		return false
	}
	if strings.HasSuffix(name, "6") && !strings.Contains(name, "_") {
		return true // kernel6, direct6, static6
	}
	_, addr, ok := strings.Cut(name, "_")
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(addr, "_", ":"))
	return err == nil && a.Is6()
}

// bgpLogWriter keeps BIRD's output as BGP logs in dir/bgp.log, rotated
// at 10 MB with 5 kept, for the log shipper.
func bgpLogWriter(dir, host string, log *slog.Logger) func(string) {
	w, err := logfile.Open(logfile.Config{Dir: dir, FileName: "bgp.log", MaxFileSizeMB: 10, MaxFiles: 5})
	if err != nil {
		log.Warn("BGP logs are not kept", "dir", dir, "err", err)
		return nil
	}
	return func(line string) {
		b, _ := json.Marshal(bgpLogRecord(line, host, time.Now()))
		if err := w.WriteBatch(append(b, '\n')); err != nil {
			log.Warn("writing a BGP log failed", "err", err)
		}
	}
}
