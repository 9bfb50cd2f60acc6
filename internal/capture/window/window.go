// Package window decides, from a PacketCapture's start and end times and
// the clock, whether it captures now, and a node's state for it
// (Calico Enterprise's meaning): a start that is unset or past means
// now, an end that is unset means never, moving the end to the past
// stops a capture and moving the start to the future stops it until
// then.
package window

import (
	"time"

	v3 "github.com/calicong/calico/api/v3"
)

// Open tells whether the capture's window holds t.
func Open(s v3.PacketCaptureSpec, t time.Time) bool {
	if s.StartTime != nil && t.Before(s.StartTime.Time) {
		return false
	}
	return s.EndTime == nil || t.Before(s.EndTime.Time)
}

// Next is when the window next opens or closes after t (zero if never).
func Next(s v3.PacketCaptureSpec, t time.Time) time.Time {
	if s.StartTime != nil && t.Before(s.StartTime.Time) {
		return s.StartTime.Time
	}
	if s.EndTime != nil && t.Before(s.EndTime.Time) {
		return s.EndTime.Time
	}
	return time.Time{}
}

// State is a node's state for the capture at t: Scheduled before the
// window, Finished after it, and within it Capturing once a packet was
// written, WaitingForTraffic before; Error when capture failed.
func State(s v3.PacketCaptureSpec, t time.Time, packets bool, failed bool) v3.PacketCaptureState {
	switch {
	case failed:
		return v3.PacketCaptureStateError
	case s.StartTime != nil && t.Before(s.StartTime.Time):
		return v3.PacketCaptureStateScheduled
	case s.EndTime != nil && !t.Before(s.EndTime.Time):
		return v3.PacketCaptureStateFinished
	case packets:
		return v3.PacketCaptureStateCapturing
	default:
		return v3.PacketCaptureStateWaitingForTraffic
	}
}
