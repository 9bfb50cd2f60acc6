package datastore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/conversion"
)

// listSynthesised derives Profiles from Namespaces and ServiceAccounts,
// WorkloadEndpoints from Pods and Nodes from Kubernetes Nodes.
func (c *Client) listSynthesised(ctx context.Context, kind v3.KindInfo, ns string) ([]v3.Object, error) {
	var out []v3.Object
	switch kind.Kind {
	case "Profile":
		out = append(out, conversion.DefaultAllowProfile())
		nss, err := c.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list namespaces: %w", err)
		}
		for i := range nss.Items {
			out = append(out, conversion.NamespaceProfile(&nss.Items[i]))
		}
		sas, err := c.Kube.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list service accounts: %w", err)
		}
		for i := range sas.Items {
			out = append(out, conversion.ServiceAccountProfile(&sas.Items[i]))
		}
	case "WorkloadEndpoint":
		pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list pods: %w", err)
		}
		for i := range pods.Items {
			if wep, ok := conversion.WorkloadEndpoint(&pods.Items[i]); ok {
				out = append(out, wep)
			}
		}
	case "Node":
		nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		for i := range nodes.Items {
			out = append(out, conversion.Node(&nodes.Items[i]))
		}
	default:
		return nil, fmt.Errorf("kind %s is not stored and cannot be derived", kind.Kind)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].GetNamespace() != out[j].GetNamespace() {
			return out[i].GetNamespace() < out[j].GetNamespace()
		}
		return out[i].GetName() < out[j].GetName()
	})
	return out, nil
}

func (c *Client) getSynthesised(ctx context.Context, kind v3.KindInfo, ns, name string) (v3.Object, error) {
	notFound := apierrors.NewNotFound(kind.GroupVersionResource().GroupResource(), name)
	switch kind.Kind {
	case "Profile":
		switch {
		case name == v3.DefaultAllowProfile:
			return conversion.DefaultAllowProfile(), nil
		case strings.HasPrefix(name, v3.NamespaceProfilePrefix):
			n, err := c.Kube.CoreV1().Namespaces().Get(ctx, strings.TrimPrefix(name, v3.NamespaceProfilePrefix), metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil, notFound
			} else if err != nil {
				return nil, err
			}
			return conversion.NamespaceProfile(n), nil
		case strings.HasPrefix(name, v3.ServiceAccountProfilePrefix):
			// ksa.<ns>.<sa>: namespace names cannot contain dots.
			rest := strings.TrimPrefix(name, v3.ServiceAccountProfilePrefix)
			saNS, sa, ok := strings.Cut(rest, ".")
			if !ok {
				return nil, notFound
			}
			s, err := c.Kube.CoreV1().ServiceAccounts(saNS).Get(ctx, sa, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil, notFound
			} else if err != nil {
				return nil, err
			}
			return conversion.ServiceAccountProfile(s), nil
		}
		return nil, notFound
	case "Node":
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, notFound
		} else if err != nil {
			return nil, err
		}
		return conversion.Node(n), nil
	case "WorkloadEndpoint":
		all, err := c.listSynthesised(ctx, kind, ns)
		if err != nil {
			return nil, err
		}
		for _, o := range all {
			if o.GetName() == name {
				return o, nil
			}
		}
		return nil, notFound
	}
	return nil, fmt.Errorf("kind %s is not stored and cannot be derived", kind.Kind)
}
