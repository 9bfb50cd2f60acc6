package manifests

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// PodContext is what a kubelet fills a container's environment from.
type PodContext struct {
	NodeName, Namespace string
	// ConfigMaps by name, in the pod's namespace.
	ConfigMaps map[string]*corev1.ConfigMap
}

// ContainerEnv is a container's environment as a kubelet would give it
// ("NAME=value"): envFrom ConfigMaps first, then env, with values from
// ConfigMap keys and from the pod's spec.nodeName and
// metadata.namespace. A reference to a missing ConfigMap or key is an
// error unless it is optional, as for a kubelet.
func ContainerEnv(c corev1.Container, pod PodContext) ([]string, error) {
	var out []string
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			return nil, fmt.Errorf("container %s: envFrom supports ConfigMaps only", c.Name)
		}
		cm, ok := pod.ConfigMaps[from.ConfigMapRef.Name]
		if !ok {
			if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
				continue
			}
			return nil, fmt.Errorf("container %s: ConfigMap %s does not exist", c.Name, from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			out = append(out, from.Prefix+k+"="+v)
		}
	}
	for _, e := range c.Env {
		v := e.Value
		switch src := e.ValueFrom; {
		case src == nil:
		case src.ConfigMapKeyRef != nil:
			ref := src.ConfigMapKeyRef
			cm, ok := pod.ConfigMaps[ref.Name]
			var found bool
			if ok {
				v, found = cm.Data[ref.Key]
			}
			if !found {
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				return nil, fmt.Errorf("container %s: env %s: ConfigMap %s has no key %s", c.Name, e.Name, ref.Name, ref.Key)
			}
		case src.FieldRef != nil:
			switch src.FieldRef.FieldPath {
			case "spec.nodeName":
				v = pod.NodeName
			case "metadata.namespace":
				v = pod.Namespace
			default:
				return nil, fmt.Errorf("container %s: env %s: field %s is not supported", c.Name, e.Name, src.FieldRef.FieldPath)
			}
		default:
			return nil, fmt.Errorf("container %s: env %s: unsupported source", c.Name, e.Name)
		}
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}
