package nft

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Runner runs the nft binary. Prefix is prepended to the command line
// (tests use ["ip", "netns", "exec", NAME] to work in a namespace).
type Runner struct {
	Binary string // default "nft"
	Prefix []string
	// Elements, if set, writes changes that are only set elements over
	// netlink instead (ApplyElements), in the namespace Prefix enters.
	Elements *NetlinkElements
}

// ApplyElements writes element changes without a script when Elements
// is set; otherwise, or for changes it cannot write, it returns
// ErrElementsUnsupported.
func (r Runner) ApplyElements(t *Table, add, del map[string][]string) error {
	if r.Elements == nil {
		return ErrElementsUnsupported
	}
	return r.Elements.Apply(t.Family(), t.Name(), t.SetDecl, add, del)
}

func (r Runner) command(ctx context.Context, args ...string) *exec.Cmd {
	bin := r.Binary
	if bin == "" {
		bin = "nft"
	}
	argv := append(append(append([]string(nil), r.Prefix...), bin), args...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// Apply runs a script as one atomic transaction.
func (r Runner) Apply(ctx context.Context, script string) error {
	cmd := r.command(ctx, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft -f: %w: %s", err, firstLines(stderr.String(), 8))
	}
	return nil
}

// Read lists what the kernel holds of a table (Kernel.Exists is false
// when there is no such table).
func (r Runner) Read(ctx context.Context, family, table string) (*Kernel, error) {
	cmd := r.command(ctx, "-j", "list", "table", family, table)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "No such file or directory") {
			return &Kernel{}, nil
		}
		return nil, fmt.Errorf("nft list table %s %s: %w: %s", family, table, err, firstLines(stderr.String(), 4))
	}
	k, err := ParseKernel(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("nft list table %s %s: %w", family, table, err)
	}
	return k, nil
}

// List returns `nft list table` output.
func (r Runner) List(ctx context.Context, family, table string) (string, error) {
	cmd := r.command(ctx, "list", "table", family, table)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("nft list table: %w: %s", err, firstLines(stderr.String(), 4))
	}
	return stdout.String(), nil
}

// Delete removes a table; a missing table is not an error.
func (r Runner) Delete(ctx context.Context, family, table string) error {
	cmd := r.command(ctx, "delete", "table", family, table)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil && !strings.Contains(stderr.String(), "No such file or directory") {
		return fmt.Errorf("nft delete table: %w: %s", err, firstLines(stderr.String(), 4))
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("… (%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}
