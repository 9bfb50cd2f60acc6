package cni

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A log file at its size limit moves to .1 (replacing the last one) and
// logging goes on in a new file.
func TestLogFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cni", "cni.log")
	c := &NetConf{LogFilePath: path, LogFileMaxSize: 1}
	c.logger("calico", "c1").Info("first")
	if err := os.WriteFile(path+".1", []byte("the oldest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := append(bytes.Repeat([]byte("x"), 1<<20), '\n')
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(big)
	f.Close()
	c.logger("calico", "c2").Info("after the limit")
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	if !strings.Contains(string(cur), "after the limit") || strings.Contains(string(cur), "first") {
		t.Errorf("the new log file holds:\n%.200s", cur)
	}
	if !strings.Contains(string(old), "first") || strings.Contains(string(old), "the oldest") {
		t.Errorf("the rotated file does not hold the full log it replaced (%d bytes)", len(old))
	}
	// Under the limit nothing moves.
	c.logger("calico", "c3").Info("third")
	if cur, _ := os.ReadFile(path); !strings.Contains(string(cur), "after the limit") {
		t.Error("a log under its limit was rotated")
	}
}
