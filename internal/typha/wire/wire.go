// Package wire is the protocol between calico-typha and its clients: framed
// messages over one TCP (or TLS) stream, the key/value encoding shared by
// snapshots and deltas, and the codec that turns the syncer's values into
// bytes and back. It is pure: no sockets, no API clients.
//
// A frame is one type byte, the payload's length as a uvarint, then the
// payload. Updates are encoded once by Typha and the same bytes go to every
// client; a snapshot is a compressed stream of frames built once and shared
// by every client that connects while it is current.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MsgType identifies a frame.
type MsgType byte

// The frames. Client → server: Hello, Pong. Server → client: ServerHello,
// Snapshot, KVs, Status, Ping, Error.
const (
	MsgHello       MsgType = 1 // JSON Hello
	MsgServerHello MsgType = 2 // JSON ServerHello
	MsgError       MsgType = 3 // UTF-8 text; the sender closes after it
	MsgKVs         MsgType = 4 // KV batch, see AppendKVsFrame
	MsgStatus      MsgType = 5 // one byte: model.SyncStatus
	MsgSnapshot    MsgType = 6 // compressed stream of KVs and Status frames
	MsgPing        MsgType = 7 // 8 bytes: sender's clock, unix nanoseconds
	MsgPong        MsgType = 8 // the ping's 8 bytes echoed
)

func (t MsgType) String() string {
	switch t {
	case MsgHello:
		return "hello"
	case MsgServerHello:
		return "server-hello"
	case MsgError:
		return "error"
	case MsgKVs:
		return "kvs"
	case MsgStatus:
		return "status"
	case MsgSnapshot:
		return "snapshot"
	case MsgPing:
		return "ping"
	case MsgPong:
		return "pong"
	}
	return fmt.Sprintf("unknown(%d)", byte(t))
}

// MaxFrame bounds a frame's payload; a larger length is a protocol error,
// not an allocation.
const MaxFrame = 1 << 30

// MaxControlFrame bounds the frames a server reads: the client's hello
// (before anything is known of the client) and its pongs. A peer cannot
// make the server allocate more than this.
const MaxControlFrame = 16 << 10

// ProtocolVersion is sent in both hellos; peers with different major
// versions refuse each other.
const ProtocolVersion = 1

// Hello is the client's first frame.
type Hello struct {
	Version    int    `json:"version"`
	SyncerType string `json:"syncerType"`
	Hostname   string `json:"hostname"`
	Info       string `json:"info,omitempty"` // free text for logs, e.g. the client's build
}

// ServerHello answers a Hello the server accepted.
type ServerHello struct {
	Version    int    `json:"version"`
	SyncerType string `json:"syncerType"`
	Server     string `json:"server"` // the Typha instance, for the client's logs
}

// AppendFrame appends one frame to dst.
func AppendFrame(dst []byte, t MsgType, payload []byte) []byte {
	dst = append(dst, byte(t))
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...)
}

// ErrFrameTooLarge is returned for a frame longer than MaxFrame.
var ErrFrameTooLarge = errors.New("typha wire: frame larger than the limit")

// Reader reads frames from a stream.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader reads frames from r.
func NewReader(r io.Reader) *Reader {
	if br, ok := r.(*bufio.Reader); ok {
		return &Reader{r: br}
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next frame. The payload is valid until the next call.
// A clean end of stream between frames is io.EOF; one inside a frame is
// io.ErrUnexpectedEOF.
func (r *Reader) Next() (MsgType, []byte, error) {
	t, p, _, err := r.next(0, MaxFrame)
	return t, p, err
}

// NextMax is Next for a frame of at most max bytes: a longer one is an
// ErrFrameTooLarge, with nothing read into memory.
func (r *Reader) NextMax(max uint64) (MsgType, []byte, error) {
	t, p, _, err := r.next(0, max)
	return t, p, err
}

// NextStreaming is Next, except that a frame of type stream is not read
// into memory: its payload comes as a reader instead, which must be read
// to its end before the next call. Snapshots are read this way, so a
// client never holds a whole compressed snapshot.
func (r *Reader) NextStreaming(stream MsgType) (MsgType, []byte, io.Reader, error) {
	return r.next(stream, MaxFrame)
}

func (r *Reader) next(stream MsgType, max uint64) (MsgType, []byte, io.Reader, error) {
	tb, err := r.r.ReadByte()
	if err != nil {
		return 0, nil, nil, err
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		return 0, nil, nil, unexpected(err)
	}
	if n > max {
		return 0, nil, nil, fmt.Errorf("%w: %s frame of %d bytes, at most %d allowed here", ErrFrameTooLarge, MsgType(tb), n, max)
	}
	if stream != 0 && MsgType(tb) == stream {
		return MsgType(tb), nil, &exactReader{r: io.LimitReader(r.r, int64(n)), left: int64(n)}, nil
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return 0, nil, nil, unexpected(err)
	}
	// Don't pin a large buffer for the connection's life.
	p := r.buf
	if cap(r.buf) > 4<<20 {
		r.buf = nil
	}
	return MsgType(tb), p, nil, nil
}

// exactReader is a frame's payload: ending early is an error.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
