// Package proc starts child processes that must not outlive their
// parent. Linux sends the parent-death signal (Pdeathsig) when the thread
// that forked the child exits, not the process; Go retires threads (one
// locked to a goroutine that returns is destroyed, as network-namespace
// code does), which would kill a child at a random moment. Start forks
// from a thread held for the child's whole life.
package proc

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Start starts cmd with the given parent-death signal and returns a
// channel that yields its exit (cmd.Wait's error) once; cmd's other
// SysProcAttr fields are kept.
func Start(cmd *exec.Cmd, deathSignal syscall.Signal) (<-chan error, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = deathSignal
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		// This thread is the child's parent: it stays until the child
		// is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}
