package nft

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
)

// Runner runs the nft binary. Prefix is prepended to the command line
// (tests use ["ip", "netns", "exec", NAME] to work in a namespace).
type Runner struct {
	Binary string // default "nft"
	Prefix []string
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

// Existing lists the chains, sets and maps a table holds, or nothing if
// it does not exist.
func (r Runner) Existing(ctx context.Context, family, table string) (chains, sets, maps []string, err error) {
	cmd := r.command(ctx, "-j", "list", "table", family, table)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "No such file or directory") {
			return nil, nil, nil, nil
		}
		return nil, nil, nil, fmt.Errorf("nft list table %s %s: %w: %s", family, table, err, firstLines(stderr.String(), 4))
	}
	var doc struct {
		Nftables []map[string]struct {
			Name string `json:"name"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		return nil, nil, nil, fmt.Errorf("nft list table %s %s: %w", family, table, err)
	}
	for _, o := range doc.Nftables {
		for kind, v := range o {
			switch kind {
			case "chain":
				chains = append(chains, v.Name)
			case "set":
				sets = append(sets, v.Name)
			case "map":
				maps = append(maps, v.Name)
			}
		}
	}
	return chains, sets, maps, nil
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
