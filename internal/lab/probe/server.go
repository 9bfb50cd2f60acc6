package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Port is a port to serve.
type Port struct {
	Protocol string // TCP or UDP
	Port     int
}

// Server answers on a set of ports: TCP connections get an HTTP response
// naming the server (so `curl` shows which pod answered), UDP datagrams
// are echoed back prefixed with the name.
type Server struct {
	Name   string
	mu     sync.Mutex
	ls     []net.Listener
	pcs    []net.PacketConn
	sctpFD int // raw socket answering SCTP INITs; 0 if none
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Serve starts listening, in namespace ns, on every port.
func Serve(ns, name string, ports []Port) (*Server, error) {
	s := &Server{Name: name, stop: make(chan struct{})}
	sctpPorts := map[uint16]bool{}
	err := InNamespace(ns, func() error {
		for _, p := range ports {
			addr := fmt.Sprintf(":%d", p.Port)
			switch strings.ToUpper(p.Protocol) {
			case "TCP", "":
				l, err := net.Listen("tcp", addr)
				if err != nil {
					return err
				}
				s.ls = append(s.ls, l)
			case "UDP":
				pc, err := net.ListenPacket("udp", addr)
				if err != nil {
					return err
				}
				s.pcs = append(s.pcs, pc)
			case "SCTP":
				sctpPorts[uint16(p.Port)] = true
			default:
				return fmt.Errorf("protocol %q is not served (TCP, UDP or SCTP)", p.Protocol)
			}
		}
		if len(sctpPorts) > 0 {
			fd, err := rawSCTPSocket()
			if err != nil {
				return fmt.Errorf("raw SCTP socket: %w", err)
			}
			s.sctpFD = fd
		}
		return nil
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	for _, l := range s.ls {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/bytes" {
					// A download of a known size (flow log tests count it).
					n, err := strconv.Atoi(r.URL.Query().Get("n"))
					if err != nil || n < 0 || n > maxDownload {
						http.Error(w, fmt.Sprintf("n must be 0-%d", maxDownload), http.StatusBadRequest)
						return
					}
					w.Header().Set("Content-Length", strconv.Itoa(n))
					_, _ = io.CopyN(w, zeroes{}, int64(n))
					return
				}
				fmt.Fprintln(w, s.Name)
			}), ReadHeaderTimeout: 5 * time.Second}
			_ = srv.Serve(l)
		}()
	}
	if s.sctpFD != 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			serveSCTP(s.sctpFD, sctpPorts, s.stop)
		}()
	}
	for _, pc := range s.pcs {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(append([]byte(s.Name+": "), buf[:n]...), from)
			}
		}()
	}
	return s, nil
}

// Close stops the server and waits for its goroutines.
func (s *Server) Close() {
	for _, l := range s.ls {
		l.Close()
	}
	for _, pc := range s.pcs {
		pc.Close()
	}
	close(s.stop)
	s.wg.Wait()
	if s.sctpFD != 0 {
		_ = syscall.Close(s.sctpFD)
	}
}

// Result is the outcome of one probe.
type Result struct {
	Connected bool
	// Reply is what the server said (its name), if anything.
	Reply string
}

// Connect tries to reach addr:port from namespace ns within timeout. A
// connection that is refused or times out is not an error: it is a
// result with Connected false.
func Connect(ns, protocol, addr string, port int, timeout time.Duration) (Result, error) {
	var res Result
	err := InNamespace(ns, func() error {
		var err error
		res, err = connect(protocol, addr, port, timeout)
		return err
	})
	return res, err
}

func connect(protocol, addr string, port int, timeout time.Duration) (Result, error) {
	target := net.JoinHostPort(addr, fmt.Sprint(port))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	switch strings.ToUpper(protocol) {
	case "TCP":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return Result{}, nil
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
		body, _ := io.ReadAll(c)
		reply := string(body)
		if i := strings.Index(reply, "\r\n\r\n"); i >= 0 {
			reply = strings.TrimSpace(reply[i+4:])
		}
		return Result{Connected: true, Reply: reply}, nil
	case "UDP":
		var d net.Dialer
		c, err := d.DialContext(ctx, "udp", target)
		if err != nil {
			return Result{}, err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		// Resend while waiting: a first datagram may be lost to ARP.
		buf := make([]byte, 2048)
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			if _, err := c.Write([]byte("probe")); err != nil {
				return Result{}, nil
			}
			_ = c.SetReadDeadline(time.Now().Add(min(timeout, 200*time.Millisecond)))
			n, err := c.Read(buf)
			if err == nil {
				return Result{Connected: true, Reply: strings.TrimSuffix(string(buf[:n]), ": probe")}, nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if ctx.Err() != nil {
					return Result{}, nil
				}
				continue
			}
			return Result{}, nil
		}
		return Result{}, nil
	case "ICMP":
		ok, err := ping(addr, timeout)
		return Result{Connected: ok}, err
	case "SCTP":
		ok, err := connectSCTP(addr, port, timeout)
		return Result{Connected: ok}, err
	}
	return Result{}, fmt.Errorf("protocol %q cannot be probed (TCP, UDP, SCTP or ICMP)", protocol)
}

// maxDownload bounds /bytes.
const maxDownload = 64 << 20

// zeroes reads as an endless run of zero bytes.
type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Download fetches n bytes from a workload server's /bytes, from inside
// network namespace ns, and returns how many arrived.
func Download(ns, addr string, port, n int, timeout time.Duration) (int64, error) {
	resp, err := HTTPClient(ns, timeout).Get(fmt.Sprintf("http://%s/bytes?n=%d", net.JoinHostPort(addr, strconv.Itoa(port)), n))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("download from %s:%d: %s", addr, port, resp.Status)
	}
	return io.Copy(io.Discard, resp.Body)
}
