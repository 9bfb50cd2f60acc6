package noderuntime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/lab/relay"
)

// Programs: a container whose image is one of these runs the lab's build
// of that program in the pod, instead of the workload server. The
// runtime gives it what a kubelet would: its ConfigMap volumes as files
// (the container's arguments that name a mount path are pointed at
// them), its ServiceAccount's token and CA at the in-cluster path (in a
// mount namespace of its own), and the API server at the
// KUBERNETES_SERVICE_HOST and _PORT a pod sees (relayed into the pod's
// network namespace).
var Programs = map[string]string{
	"registry.k8s.io/coredns/coredns": "coredns",
}

// programOf is the lab program the pod's first container runs, if any.
func programOf(pod *corev1.Pod) (string, *corev1.Container) {
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		image, _, _ := strings.Cut(c.Image, "@")
		if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
			image = image[:i]
		}
		if p, ok := Programs[image]; ok {
			return p, c
		}
	}
	return "", nil
}

// program is a running lab program of a pod.
type program struct {
	cancel context.CancelFunc
	done   chan struct{}
	relay  *relay.Relay
}

func (p *program) stop() {
	p.cancel()
	<-p.done
	if p.relay != nil {
		p.relay.Close()
	}
}

// startProgram runs a pod's program, restarting it when it exits, until
// stopped.
func (r *Runtime) startProgram(ctx context.Context, pod *corev1.Pod, netns, name string, c *corev1.Container) (*program, error) {
	if r.cfg.Bin == "" || r.cfg.APIServer == "" {
		return nil, fmt.Errorf("the runtime cannot run %s: no lab binaries or API server configured", name)
	}
	dir := filepath.Join(r.cfg.Host.Dir, "pods", string(pod.UID))
	args := slices.Clone(c.Args)
	for _, v := range c.VolumeMounts {
		vol := volumeOf(pod, v.Name)
		if vol == nil || vol.ConfigMap == nil {
			continue
		}
		cm, err := r.cfg.Kube.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, vol.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		vdir := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return nil, err
		}
		for k, data := range cm.Data {
			if err := os.WriteFile(filepath.Join(vdir, k), []byte(data), 0o644); err != nil {
				return nil, err
			}
		}
		for i, a := range args {
			if rest, ok := strings.CutPrefix(a, v.MountPath); ok && (rest == "" || rest[0] == '/') {
				args[i] = vdir + rest
			}
		}
	}
	sa := filepath.Join(dir, "serviceaccount")
	if err := os.MkdirAll(sa, 0o755); err != nil {
		return nil, err
	}
	exp := int64(24 * 3600)
	tok, err := r.cfg.Kube.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp, BoundObjectRef: &authenticationv1.BoundObjectReference{
			Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("a token for %s: %w", pod.Spec.ServiceAccountName, err)
	}
	ca, err := os.ReadFile(r.cfg.CAFile)
	if err != nil {
		return nil, err
	}
	for f, data := range map[string]string{"token": tok.Status.Token, "ca.crt": string(ca), "namespace": pod.Namespace} {
		if err := os.WriteFile(filepath.Join(sa, f), []byte(data), 0o600); err != nil {
			return nil, err
		}
	}
	rl, err := relay.Listen(netns, r.cfg.APIServer)
	if err != nil {
		return nil, fmt.Errorf("relaying the API server into the pod: %w", err)
	}
	host, port, _ := strings.Cut(r.cfg.APIServer, ":")
	// The in-cluster path is /var/run/secrets/kubernetes.io/serviceaccount:
	// a tmpfs over /run, private to the program, holds it.
	script := `mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && ` +
		`mount --bind "$SA_DIR" /run/secrets/kubernetes.io/serviceaccount && exec "$@"`
	argv := append([]string{"--net=/var/run/netns/" + netns, "--", "unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", script, name, filepath.Join(r.cfg.Bin, name)}, args...)
	logPath := filepath.Join(dir, name+".log")
	pctx, cancel := context.WithCancel(context.Background())
	p := &program{cancel: cancel, done: make(chan struct{}), relay: rl}
	log := r.cfg.Log.With("pod", pod.Namespace+"/"+pod.Name, "program", name)
	go func() {
		defer close(p.done)
		backoff := time.Second
		for pctx.Err() == nil {
			f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				log.Error("program log", "err", err)
				return
			}
			cmd := exec.CommandContext(pctx, "nsenter", argv...)
			cmd.Env = append(os.Environ(), "SA_DIR="+sa, "KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port)
			cmd.Stdout, cmd.Stderr = f, f
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			started := time.Now()
			err = cmd.Run()
			f.Close()
			if pctx.Err() != nil {
				return
			}
			log.Warn("program exited; restarting", "err", err, "log", logPath)
			if time.Since(started) > time.Minute {
				backoff = time.Second
			}
			select {
			case <-pctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
	log.Info("program started", "log", logPath)
	return p, nil
}

func volumeOf(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}
