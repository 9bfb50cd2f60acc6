package ctl

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/calicong/calico/internal/node/bird"
)

func newNodeCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Inspect the Calico node this command runs on",
	}
	cmd.AddCommand(newNodeStatusCommand(o))
	return cmd
}

// defaultBIRDSocket is where calico-node puts BIRD's control socket
// ($CALICO_RUN_DIR, default /var/run/calico).
func defaultBIRDSocket() string {
	dir := os.Getenv("CALICO_RUN_DIR")
	if dir == "" {
		dir = "/var/run/calico"
	}
	return filepath.Join(dir, "bird.ctl")
}

func newNodeStatusCommand(o *options) *cobra.Command {
	socket := defaultBIRDSocket()
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show this node's BGP sessions, as BIRD reports them",
		Long: "Reads BIRD's control socket on this node and prints its BGP sessions per address family.\n" +
			"Exits 1 if BIRD does not answer (calico-node is not running here, or runs without BGP).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if _, err := bird.Status(ctx, socket); err != nil {
				fmt.Fprintln(o.Out, "Calico process is not running.")
				fmt.Fprintf(o.ErrOut, "BIRD does not answer on %s: %v\n", socket, err)
				return errProblems
			}
			ss, err := bird.Sessions(ctx, socket)
			if err != nil {
				return err
			}
			fmt.Fprintln(o.Out, "Calico process is running.")
			for _, fam := range []string{"IPv4", "IPv6"} {
				var rows [][]string
				for _, s := range ss {
					if s.Neighbor.Is6() != (fam == "IPv6") {
						continue
					}
					rows = append(rows, []string{s.Neighbor.String(), describePeer(s.Name), s.State, shortSince(s.Since), s.BGPState})
				}
				fmt.Fprintf(o.Out, "\n%s BGP status\n", fam)
				if len(rows) == 0 {
					fmt.Fprintf(o.Out, "No %s peers found.\n", fam)
					continue
				}
				boxTable(o.Out, []string{"PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"}, rows)
			}
			fmt.Fprintln(o.Out)
			return nil
		},
	}
	cmd.Flags().StringVar(&socket, "bird-socket", socket, "BIRD's control socket (default from $CALICO_RUN_DIR)")
	return cmd
}

// describePeer is calicoctl's wording for a session, from its protocol
// name.
func describePeer(name string) string {
	switch {
	case strings.HasPrefix(name, "Mesh_"):
		return "node-to-node mesh"
	case strings.HasPrefix(name, "Node_"):
		return "node specific"
	case strings.HasPrefix(name, "Global_"):
		return "global"
	}
	return name
}

// shortSince keeps the time of day of a timestamp from today.
func shortSince(s string) string {
	if d, t, ok := strings.Cut(s, " "); ok && d == time.Now().Format("2006-01-02") {
		return t
	}
	return s
}

// boxTable prints a table with borders, as calicoctl node status does.
func boxTable(w io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := func() {
		for _, n := range widths {
			fmt.Fprint(w, "+"+strings.Repeat("-", n+2))
		}
		fmt.Fprintln(w, "+")
	}
	row := func(r []string) {
		for i, c := range r {
			fmt.Fprintf(w, "| %-*s ", widths[i], c)
		}
		fmt.Fprintln(w, "|")
	}
	line()
	row(header)
	line()
	for _, r := range rows {
		row(r)
	}
	line()
}
