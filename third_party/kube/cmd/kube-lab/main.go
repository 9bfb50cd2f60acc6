// Command kube-lab is the lab's Kubernetes control plane: one multi-call
// binary built from a pinned k8s.io/kubernetes release. Each subcommand runs
// one upstream component, unmodified, in its own process:
//
//	kube-lab etcd --data-dir DIR --listen-client-url URL --listen-peer-url URL
//	kube-lab kube-apiserver FLAGS...
//	kube-lab kube-controller-manager FLAGS...
//	kube-lab kube-scheduler FLAGS...
//	kube-lab kube-proxy FLAGS...
//	kube-lab version
//	kubectl ...            (when invoked as "kubectl")
//
// Separate processes keep each component's process-global state (feature
// gates, metrics registries, klog) exactly as upstream expects it.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones, as upstream kube-apiserver

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/component-base/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	if filepath.Base(os.Args[0]) == "kubectl" {
		os.Exit(runKubectl())
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: kube-lab etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|version [FLAGS]")
		return 2
	}
	var cmd *cobra.Command
	switch args[0] {
	case "etcd":
		return runEtcd(args[1:])
	case "version":
		fmt.Println(version.Get().GitVersion)
		return 0
	case "kube-apiserver":
		cmd = apiserver.NewAPIServerCommand()
	case "kube-controller-manager":
		cmd = controllermanager.NewControllerManagerCommand()
	case "kube-scheduler":
		cmd = scheduler.NewSchedulerCommand()
	case "kube-proxy":
		cmd = proxy.NewProxyCommand()
	default:
		fmt.Fprintf(os.Stderr, "kube-lab: unknown component %q\n", args[0])
		return 2
	}
	cmd.SetArgs(args[1:])
	return cli.Run(cmd)
}
