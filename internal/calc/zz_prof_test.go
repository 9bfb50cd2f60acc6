package calc

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

func TestHeapProfile(t *testing.T) {
	if os.Getenv("CALC_HEAP_PROFILE") == "" {
		t.Skip()
	}
	runtime.MemProfileRate = 4096
	var c counting
	g, _ := coldStart(c.sink)
	runtime.GC()
	f, _ := os.Create(os.Getenv("CALC_HEAP_PROFILE"))
	pprof.WriteHeapProfile(f)
	f.Close()
	runtime.KeepAlive(g)
}
