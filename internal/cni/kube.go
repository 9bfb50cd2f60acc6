package cni

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// core makes the few core/v1 calls the plugins need, with a plain REST
// client: client-go's typed clientset registers every Kubernetes API group
// at start-up, which a plugin started for every pod cannot afford. It
// shares the Calico client's connection (client-go caches transports by
// configuration).
type core struct{ rest rest.Interface }

func newCore(cfg *rest.Config) (*core, error) {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(s).WithoutConversion()
	c.ContentType = runtime.ContentTypeJSON
	r, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &core{rest: r}, nil
}

// pod reads a pod from the API server's cache (the runtime calls ADD for
// a pod the kubelet saw through a watch, so the cache has it); a miss is
// read again consistently.
func (c *core) pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	p := &corev1.Pod{}
	err := c.rest.Get().Namespace(ns).Resource("pods").Name(name).Param("resourceVersion", "0").Do(ctx).Into(p)
	if apierrors.IsNotFound(err) {
		err = c.rest.Get().Namespace(ns).Resource("pods").Name(name).Do(ctx).Into(p)
	}
	return p, err
}

// podFresh reads a pod consistently (not from the cache).
func (c *core) podFresh(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	p := &corev1.Pod{}
	return p, c.rest.Get().Namespace(ns).Resource("pods").Name(name).Do(ctx).Into(p)
}

func (c *core) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	n := &corev1.Namespace{}
	err := c.rest.Get().Resource("namespaces").Name(name).Param("resourceVersion", "0").Do(ctx).Into(n)
	if apierrors.IsNotFound(err) {
		err = c.rest.Get().Resource("namespaces").Name(name).Do(ctx).Into(n)
	}
	return n, err
}

func (c *core) nodeLabels(ctx context.Context, name string) (map[string]string, error) {
	n := &corev1.Node{}
	if err := c.rest.Get().Resource("nodes").Name(name).Do(ctx).Into(n); err != nil {
		return nil, err
	}
	return n.Labels, nil
}

func (c *core) patchPod(ctx context.Context, ns, name string, patch []byte) error {
	// Through the status subresource, as Calico does: the plugins' role
	// may patch pods/status, not the pods' specs.
	return c.rest.Patch(k8stypes.MergePatchType).Namespace(ns).Resource("pods").Name(name).SubResource("status").Body(patch).Do(ctx).Error()
}
