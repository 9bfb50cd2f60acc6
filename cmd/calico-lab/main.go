// Command calico-lab runs a local Kubernetes cluster with Calico installed.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/lab"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	err := root.ExecuteContext(ctx)
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "Error:", strings.TrimPrefix(err.Error(), lab.ErrUsage.Error()+": "))
		return 2
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	return 1
}

func newRootCommand() *cobra.Command {
	cfg := lab.Defaults()
	if dir := os.Getenv("CALICO_LAB_DIR"); dir != "" {
		cfg.StateDir = dir
	}
	root := &cobra.Command{
		Use:           "calico-lab",
		Short:         "Run a local Kubernetes cluster with Calico",
		Version:       buildinfo.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			abs, err := filepath.Abs(cfg.StateDir)
			if err != nil {
				return fmt.Errorf("--state-dir: %w", err)
			}
			cfg.StateDir = abs
			return nil
		},
	}
	root.PersistentFlags().StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "directory holding the lab's state (env CALICO_LAB_DIR)")

	var demo bool
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the lab and wait until it is ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if demo && cfg.Nodes == 0 {
				return fmt.Errorf("--demo needs sandbox nodes: add --nodes 3")
			}
			if err := lab.Up(cmd.Context(), cfg, cmd.OutOrStdout()); err != nil {
				return err
			}
			bin := filepath.Dir(cfg.Executable)
			fmt.Fprintf(cmd.OutOrStdout(), `
Use it with:
  export KUBECONFIG=%s
  export PATH=%s:$PATH   # kubectl, calicoctl and calico-lab of this build
  kubectl get tiers
  calicoctl apply -f my-policies.yaml
  calicoctl get globalnetworkpolicies -o wide
  calico-lab status
  calico-lab down        # stop it and remove all of its state
`, cfg.KubeconfigPath(), bin)
			if demo {
				return lab.Demo(cmd.Context(), cfg, cmd.OutOrStdout())
			}
			return nil
		},
	}
	f := up.Flags()
	f.BoolVar(&demo, "demo", false, "deploy the demo application and its policy (needs --nodes)")
	f.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "number of sandbox nodes")
	f.IntVar(&cfg.TyphaReplicas, "typha-replicas", cfg.TyphaReplicas, "how many of the nodes run calico-typha (0: calico-node watches the API server itself)")
	f.IntVar(&cfg.APIServerPort, "apiserver-port", cfg.APIServerPort, "kube-apiserver port")
	f.IntVar(&cfg.EtcdClientPort, "etcd-port", cfg.EtcdClientPort, "etcd client port")
	f.IntVar(&cfg.EtcdPeerPort, "etcd-peer-port", cfg.EtcdPeerPort, "etcd peer port")
	f.IntVar(&cfg.ControllerManagerPort, "controller-manager-port", cfg.ControllerManagerPort, "kube-controller-manager port")
	f.IntVar(&cfg.SchedulerPort, "scheduler-port", cfg.SchedulerPort, "kube-scheduler port")
	f.IntVar(&cfg.APIServerWebhookPort, "calico-apiserver-port", cfg.APIServerWebhookPort, "calico-apiserver's admission webhook port")
	f.IntVar(&cfg.APIServerHealthPort, "calico-apiserver-health-port", cfg.APIServerHealthPort, "calico-apiserver's health port")
	f.IntVar(&cfg.LinseedPort, "linseed-port", cfg.LinseedPort, "calico-linseed's HTTPS port (the log API)")
	f.IntVar(&cfg.LinseedHealthPort, "linseed-health-port", cfg.LinseedHealthPort, "calico-linseed's health port")
	f.IntVar(&cfg.LinseedMetricsPort, "linseed-metrics-port", cfg.LinseedMetricsPort, "calico-linseed's metrics port")
	f.IntVar(&cfg.ManagerPort, "manager-port", cfg.ManagerPort, "calico-manager's HTTPS port (the console; with --nodes)")
	f.StringVar(&cfg.LinseedStore, "linseed-store", cfg.LinseedStore, "calico-linseed's store: sqlite (a file in the state directory) or clickhouse (a clickhouse-server the lab runs)")
	f.IntVar(&cfg.ClickHousePort, "clickhouse-port", cfg.ClickHousePort, "clickhouse-server's native protocol port (with --linseed-store clickhouse)")
	f.IntVar(&cfg.ClickHouseHTTPPort, "clickhouse-http-port", cfg.ClickHouseHTTPPort, "clickhouse-server's HTTP port (with --linseed-store clickhouse)")
	f.StringVar(&cfg.KubeBinary, "kube-binary", cfg.KubeBinary, "the kube-lab control-plane binary")

	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the lab and remove all of its state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return lab.Down(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	var statusFormat string
	status := &cobra.Command{
		Use:   "status",
		Short: "Show what the lab runs: every component, where, its PID, restarts and readiness",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return lab.PrintStatus(cmd.Context(), cfg, cmd.OutOrStdout(), statusFormat)
		},
	}
	status.Flags().StringVarP(&statusFormat, "output", "o", "", "output format: table (default) or json")
	env := &cobra.Command{
		Use:   "env",
		Short: "Print the shell commands that point kubectl and calicoctl at the lab",
		Long:  "Print the shell commands that point kubectl and calicoctl at the lab; use as: eval \"$(calico-lab env)\"",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return lab.Env(cfg, cmd.OutOrStdout())
		},
	}
	supervise := &cobra.Command{
		Use:    "supervise",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			saved, err := lab.LoadConfig(cfg.StateDir)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			err = lab.Supervise(cmd.Context(), saved, log)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	var agentNode string
	nodeAgent := &cobra.Command{
		Use:    "node-agent",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			saved, err := lab.LoadConfig(cfg.StateDir)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", agentNode)
			return lab.RunNodeAgent(cmd.Context(), saved, agentNode, log)
		},
	}
	nodeAgent.Flags().StringVar(&agentNode, "node", "", "the node to run")
	monitoring := &cobra.Command{
		Use:    "monitoring-host",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			saved, err := lab.LoadConfig(cfg.StateDir)
			if err != nil {
				return err
			}
			return lab.RunMonitoring(cmd.Context(), saved, slog.New(slog.NewTextHandler(os.Stderr, nil)))
		},
	}
	root.AddCommand(up, down, status, env, supervise, nodeAgent, monitoring, newProbeCommand(&cfg), newExecCommand(&cfg), newRolloutCommand(&cfg),
		newLogsCommand(&cfg), newRestartCommand(&cfg), newStopCommand(&cfg), newStartCommand(&cfg))
	return root
}
