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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/lab/relay"
)

// Programs: a container whose image is one of these runs the lab's build
// of that program in the pod, instead of the workload server. The
// runtime gives it what a kubelet would:
//   - its ConfigMap and Secret volumes as files (the container's
//     arguments and environment values that name a mount path are
//     pointed at them);
//   - its environment (values, and the pod's name, namespace and node);
//   - its ServiceAccount's token and CA at the in-cluster path (in a
//     mount namespace of its own);
//   - the API server at the KUBERNETES_SERVICE_HOST and _PORT a pod sees,
//     and the runtime's other Services, relayed into the pod's network
//     namespace at the same addresses.
//
// A pod that restarts Always runs its program again when it exits; one
// that restarts Never (a Job's) ends Succeeded or Failed by its exit
// status, and OnFailure runs again until it succeeds.
var Programs = map[string]string{
	"registry.k8s.io/coredns/coredns": "coredns",
	// Compliance's report jobs (internal/compliance/controller).
	"calicong/compliance": "calico-compliance",
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
	relays []*relay.Relay
}

func (p *program) stop() {
	p.cancel()
	<-p.done
	for _, r := range p.relays {
		r.Close()
	}
}

// startProgram runs a pod's program until stopped, running it again
// when it exits as the pod's restart policy says.
func (r *Runtime) startProgram(ctx context.Context, pod *corev1.Pod, netns, name string, c *corev1.Container) (*program, error) {
	if r.cfg.Bin == "" || r.cfg.APIServer == "" {
		return nil, fmt.Errorf("the runtime cannot run %s: no lab binaries or API server configured", name)
	}
	dir := filepath.Join(r.cfg.Host.Dir, "pods", string(pod.UID))
	args := slices.Clone(c.Args)
	env, err := containerEnv(pod, c)
	if err != nil {
		return nil, err
	}
	for _, v := range c.VolumeMounts {
		files, err := r.volumeFiles(ctx, pod, v.Name)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if files == nil {
			continue
		}
		vdir := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return nil, err
		}
		for k, data := range files {
			if err := os.WriteFile(filepath.Join(vdir, k), data, 0o600); err != nil {
				return nil, err
			}
		}
		under := func(path string) (string, bool) {
			rest, ok := strings.CutPrefix(path, v.MountPath)
			return vdir + rest, ok && (rest == "" || rest[0] == '/')
		}
		for i, a := range args {
			if p, ok := under(a); ok {
				args[i] = p
			}
		}
		for i, e := range env {
			name, val, _ := strings.Cut(e, "=")
			if p, ok := under(val); ok {
				env[i] = name + "=" + p
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
	var relays []*relay.Relay
	for _, addr := range append([]string{r.cfg.APIServer}, r.cfg.Services...) {
		rl, err := relay.Listen(netns, addr)
		if err != nil {
			for _, rl := range relays {
				rl.Close()
			}
			return nil, fmt.Errorf("relaying %s into the pod: %w", addr, err)
		}
		relays = append(relays, rl)
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
	p := &program{cancel: cancel, done: make(chan struct{}), relays: relays}
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
			// The container's environment, not the runtime's.
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=/", "SA_DIR=" + sa,
				"KUBERNETES_SERVICE_HOST=" + host, "KUBERNETES_SERVICE_PORT=" + port}, env...)
			cmd.Stdout, cmd.Stderr = f, f
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			started := time.Now()
			err = cmd.Run()
			f.Close()
			if pctx.Err() != nil {
				return
			}
			policy := pod.Spec.RestartPolicy
			if policy == corev1.RestartPolicyNever || policy == corev1.RestartPolicyOnFailure && err == nil {
				code := 0
				if exit, ok := err.(*exec.ExitError); ok {
					code = exit.ExitCode()
				} else if err != nil {
					code = 128
				}
				log.Info("program finished", "exitCode", code, "log", logPath)
				r.finished(context.WithoutCancel(ctx), pod, c.Name, code, started)
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

// volumeFiles are a ConfigMap or Secret volume's files (nil for other
// volumes).
func (r *Runtime) volumeFiles(ctx context.Context, pod *corev1.Pod, name string) (map[string][]byte, error) {
	vol := volumeOf(pod, name)
	switch {
	case vol == nil:
		return nil, nil
	case vol.ConfigMap != nil:
		cm, err := r.cfg.Kube.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, vol.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		out := map[string][]byte{}
		for k, v := range cm.Data {
			out[k] = []byte(v)
		}
		return out, nil
	case vol.Secret != nil:
		sec, err := r.cfg.Kube.CoreV1().Secrets(pod.Namespace).Get(ctx, vol.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return sec.Data, nil
	}
	return nil, nil
}

// containerEnv is a container's environment as NAME=value: its values,
// and the pod's name, namespace and node by field reference.
func containerEnv(pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	var out []string
	for _, e := range c.Env {
		v := e.Value
		if from := e.ValueFrom; from != nil {
			if from.FieldRef == nil {
				return nil, fmt.Errorf("env %s: the lab runtime takes values and field references only", e.Name)
			}
			switch from.FieldRef.FieldPath {
			case "metadata.name":
				v = pod.Name
			case "metadata.namespace":
				v = pod.Namespace
			case "spec.nodeName":
				v = pod.Spec.NodeName
			case "spec.serviceAccountName":
				v = pod.Spec.ServiceAccountName
			default:
				return nil, fmt.Errorf("env %s: field %s: the lab runtime knows metadata.name, metadata.namespace, spec.nodeName and spec.serviceAccountName", e.Name, from.FieldRef.FieldPath)
			}
		}
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}

// finished reports a pod whose program has run to completion: Succeeded
// on exit status 0, else Failed. Its sandbox then goes, as the pod no
// longer runs.
func (r *Runtime) finished(ctx context.Context, pod *corev1.Pod, container string, code int, started time.Time) {
	phase, reason := corev1.PodSucceeded, "Completed"
	if code != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	for attempt := 0; attempt < 10; attempt++ {
		p, err := r.cfg.Kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || p.UID != pod.UID {
			return
		}
		now := metav1.Now()
		p.Status.Phase = phase
		for i := range p.Status.Conditions {
			if t := p.Status.Conditions[i].Type; t == corev1.PodReady || t == corev1.ContainersReady {
				p.Status.Conditions[i].Status, p.Status.Conditions[i].Reason, p.Status.Conditions[i].LastTransitionTime = corev1.ConditionFalse, "PodCompleted", now
			}
		}
		terminated := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason,
			StartedAt: metav1.NewTime(started), FinishedAt: now, ContainerID: "calico-lab://" + containerID(p.UID)}}
		found := false
		for i := range p.Status.ContainerStatuses {
			if cs := &p.Status.ContainerStatuses[i]; cs.Name == container {
				cs.Ready, cs.Started, cs.State, found = false, new(bool), terminated, true
			}
		}
		if !found {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: container, State: terminated})
		}
		_, err = r.cfg.Kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			return
		}
		r.cfg.Log.Warn("reporting a finished pod; retrying", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
}
