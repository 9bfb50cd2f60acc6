package bird

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Reply is BIRD's answer to one command: its lines, each with the code
// BIRD gave it (continuation lines carry their block's code).
type Reply struct {
	Lines []ReplyLine
}

// ReplyLine is one line of a reply.
type ReplyLine struct {
	Code int
	Text string
}

// Text joins the reply's lines.
func (r Reply) Text() string {
	var b strings.Builder
	for _, l := range r.Lines {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// CommandError is a reply with an error code (8xxx run-time, 9xxx parse).
type CommandError struct {
	Code int
	Text string
}

func (e *CommandError) Error() string { return fmt.Sprintf("bird: %s (code %04d)", e.Text, e.Code) }

// Command sends one command over BIRD's control socket and reads the
// reply.
func Command(ctx context.Context, socket, cmd string) (Reply, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return Reply{}, fmt.Errorf("bird control socket %s: %w", socket, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	r := bufio.NewReader(c)
	// The greeting: "0001 BIRD 2.0.12 ready."
	if _, err := readReply(r); err != nil {
		return Reply{}, fmt.Errorf("bird control socket %s: greeting: %w", socket, err)
	}
	if _, err := fmt.Fprintf(c, "%s\n", cmd); err != nil {
		return Reply{}, err
	}
	rep, err := readReply(r)
	if err != nil {
		return rep, fmt.Errorf("bird %q: %w", cmd, err)
	}
	for _, l := range rep.Lines {
		if l.Code >= 8000 {
			return rep, &CommandError{Code: l.Code, Text: strings.TrimSpace(l.Text)}
		}
	}
	return rep, nil
}

// readReply reads lines "CODE-text" (more follow), " text" (continuing
// the last code) and "CODE text" (the last line).
func readReply(r *bufio.Reader) (Reply, error) {
	var rep Reply
	code := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return rep, err
		}
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, " ") {
			rep.Lines = append(rep.Lines, ReplyLine{Code: code, Text: line[1:]})
			continue
		}
		if len(line) < 5 {
			return rep, fmt.Errorf("malformed reply line %q", line)
		}
		n, err := strconv.Atoi(line[:4])
		if err != nil {
			return rep, fmt.Errorf("malformed reply line %q", line)
		}
		code = n
		rep.Lines = append(rep.Lines, ReplyLine{Code: n, Text: line[5:]})
		if line[4] == ' ' {
			return rep, nil
		}
	}
}

// Protocol is one line of "show protocols".
type Protocol struct {
	Name, Proto, Table, State, Since, Info string
}

// Protocols lists BIRD's protocols.
func Protocols(ctx context.Context, socket string) ([]Protocol, error) {
	rep, err := Command(ctx, socket, "show protocols")
	if err != nil {
		return nil, err
	}
	var out []Protocol
	for _, l := range rep.Lines {
		// 2002 is the header, 1002 the table.
		if l.Code != 1002 {
			continue
		}
		if len(strings.Fields(l.Text)) < 4 {
			continue
		}
		p := parseProtocolLine(l.Text)
		out = append(out, p)
	}
	return out, nil
}

// Configure asks BIRD to load a configuration file ("" for the one it
// runs with): the new one is applied in place, sessions whose settings
// did not change stay up.
func Configure(ctx context.Context, socket, file string) error {
	cmd := "configure"
	if file != "" {
		cmd += ` "` + file + `"`
	}
	rep, err := Command(ctx, socket, cmd)
	if err != nil {
		return err
	}
	// 0003 Reconfigured, 0004 in progress, 0018 already; 0002 reading.
	for _, l := range rep.Lines {
		switch l.Code {
		case 3, 4, 18, 19, 20:
			return nil
		}
	}
	return errors.New("bird: configure: unexpected reply: " + strings.TrimSpace(rep.Text()))
}
