package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	v3 "github.com/calicong/calico/api/v3"
)

// outputFormats lists what -o accepts.
var outputFormats = []string{"ps", "wide", "yaml", "json", "name"}

func checkOutputFormat(f string) error {
	for _, ok := range outputFormats {
		if f == ok {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q; use one of %s", f, strings.Join(outputFormats, ", "))
}

// clean prepares an object for output: defaults filled, as every consumer
// sees it, and server bookkeeping that users never write left out.
func clean(kind v3.KindInfo, obj v3.Object) v3.Object {
	o := obj.DeepCopyObject().(v3.Object)
	o.SetManagedFields(nil)
	v3.Default(o)
	o.GetObjectKind().SetGroupVersionKind(kind.GroupVersionKind())
	return o
}

// printObjects writes objects in the chosen format. single means one object
// was asked for by name: it is printed on its own rather than as a list.
func printObjects(out io.Writer, kind v3.KindInfo, objs []v3.Object, format string, single, showNamespace bool) error {
	cleaned := make([]v3.Object, len(objs))
	for i, o := range objs {
		cleaned[i] = clean(kind, o)
	}
	switch format {
	case "yaml", "json":
		var v any
		if single && len(cleaned) == 1 {
			v = cleaned[0]
		} else {
			v = map[string]any{
				"apiVersion": v3.GroupVersionString,
				"kind":       kind.Kind + "List",
				"metadata":   map[string]any{},
				"items":      cleaned,
			}
		}
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if format == "yaml" {
			if data, err = yaml.JSONToYAML(data); err != nil {
				return err
			}
		} else {
			data = append(data, '\n')
		}
		_, err = out.Write(data)
		return err
	case "name":
		for _, o := range cleaned {
			fmt.Fprintf(out, "%s.%s/%s\n", kind.Singular, v3.GroupName, o.GetName())
		}
		return nil
	}
	cols := columns(kind, format == "wide")
	tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
	var headers []string
	if showNamespace && kind.Namespaced {
		headers = append(headers, "NAMESPACE")
	}
	for _, c := range cols {
		headers = append(headers, c.header)
	}
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, o := range cleaned {
		var cells []string
		if showNamespace && kind.Namespaced {
			cells = append(cells, o.GetNamespace())
		}
		for _, c := range cols {
			v := c.value(o)
			if v == "" {
				v = "-"
			}
			cells = append(cells, v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

type column struct {
	header string
	value  func(v3.Object) string
}

var nameColumn = column{"NAME", func(o v3.Object) string { return o.GetName() }}

func order(o *float64) string {
	if o == nil {
		return ""
	}
	return strconv.FormatFloat(*o, 'f', -1, 64)
}

// columns are the table columns of a kind; wide adds the details.
func columns(kind v3.KindInfo, wide bool) []column {
	cols := []column{nameColumn}
	add := func(always bool, h string, f func(v3.Object) string) {
		if always || wide {
			cols = append(cols, column{h, f})
		}
	}
	switch kind.Kind {
	case "Tier":
		add(true, "ORDER", func(o v3.Object) string { return order(o.(*v3.Tier).Spec.Order) })
		add(true, "DEFAULTACTION", func(o v3.Object) string { return string(o.(*v3.Tier).Spec.DefaultAction) })
	case "NetworkPolicy":
		add(true, "TIER", func(o v3.Object) string { return o.(*v3.NetworkPolicy).Spec.Tier })
		add(false, "ORDER", func(o v3.Object) string { return order(o.(*v3.NetworkPolicy).Spec.Order) })
		add(false, "SELECTOR", func(o v3.Object) string { return o.(*v3.NetworkPolicy).Spec.Selector })
	case "GlobalNetworkPolicy":
		add(true, "TIER", func(o v3.Object) string { return o.(*v3.GlobalNetworkPolicy).Spec.Tier })
		add(false, "ORDER", func(o v3.Object) string { return order(o.(*v3.GlobalNetworkPolicy).Spec.Order) })
		add(false, "SELECTOR", func(o v3.Object) string { return o.(*v3.GlobalNetworkPolicy).Spec.Selector })
	case "StagedNetworkPolicy":
		add(true, "TIER", func(o v3.Object) string { return o.(*v3.StagedNetworkPolicy).Spec.Tier })
		add(false, "ORDER", func(o v3.Object) string { return order(o.(*v3.StagedNetworkPolicy).Spec.Order) })
		add(false, "SELECTOR", func(o v3.Object) string { return o.(*v3.StagedNetworkPolicy).Spec.Selector })
	case "StagedGlobalNetworkPolicy":
		add(true, "TIER", func(o v3.Object) string { return o.(*v3.StagedGlobalNetworkPolicy).Spec.Tier })
		add(false, "ORDER", func(o v3.Object) string { return order(o.(*v3.StagedGlobalNetworkPolicy).Spec.Order) })
		add(false, "SELECTOR", func(o v3.Object) string { return o.(*v3.StagedGlobalNetworkPolicy).Spec.Selector })
	case "GlobalNetworkSet":
		add(false, "NETS", func(o v3.Object) string { return strings.Join(o.(*v3.GlobalNetworkSet).Spec.Nets, ",") })
	case "NetworkSet":
		add(false, "NETS", func(o v3.Object) string { return strings.Join(o.(*v3.NetworkSet).Spec.Nets, ",") })
	case "HostEndpoint":
		add(true, "NODE", func(o v3.Object) string { return o.(*v3.HostEndpoint).Spec.Node })
		add(false, "INTERFACE", func(o v3.Object) string { return o.(*v3.HostEndpoint).Spec.InterfaceName })
		add(false, "IPS", func(o v3.Object) string { return strings.Join(o.(*v3.HostEndpoint).Spec.ExpectedIPs, ",") })
		add(false, "PROFILES", func(o v3.Object) string { return strings.Join(o.(*v3.HostEndpoint).Spec.Profiles, ",") })
	case "IPPool":
		add(true, "CIDR", func(o v3.Object) string { return o.(*v3.IPPool).Spec.CIDR })
		add(true, "SELECTOR", func(o v3.Object) string { return o.(*v3.IPPool).Spec.NodeSelector })
		add(false, "NAT", func(o v3.Object) string { return strconv.FormatBool(o.(*v3.IPPool).Spec.NATOutgoing) })
		add(false, "IPIPMODE", func(o v3.Object) string { return string(o.(*v3.IPPool).Spec.IPIPMode) })
		add(false, "VXLANMODE", func(o v3.Object) string { return string(o.(*v3.IPPool).Spec.VXLANMode) })
		add(false, "DISABLED", func(o v3.Object) string { return strconv.FormatBool(o.(*v3.IPPool).Spec.Disabled) })
	case "BGPPeer":
		add(true, "PEERIP", func(o v3.Object) string { return o.(*v3.BGPPeer).Spec.PeerIP })
		add(true, "NODE", func(o v3.Object) string {
			s := o.(*v3.BGPPeer).Spec
			if s.Node != "" {
				return s.Node
			}
			if s.NodeSelector != "" {
				return "(" + s.NodeSelector + ")"
			}
			return "(global)"
		})
		add(true, "ASN", func(o v3.Object) string { return o.(*v3.BGPPeer).Spec.ASNumber.String() })
	case "WorkloadEndpoint":
		add(true, "WORKLOAD", func(o v3.Object) string { return o.(*v3.WorkloadEndpoint).Spec.Pod })
		add(true, "NODE", func(o v3.Object) string { return o.(*v3.WorkloadEndpoint).Spec.Node })
		add(true, "NETWORKS", func(o v3.Object) string { return strings.Join(o.(*v3.WorkloadEndpoint).Spec.IPNetworks, ",") })
		add(true, "INTERFACE", func(o v3.Object) string { return o.(*v3.WorkloadEndpoint).Spec.InterfaceName })
		add(false, "PROFILES", func(o v3.Object) string { return strings.Join(o.(*v3.WorkloadEndpoint).Spec.Profiles, ",") })
	case "Node":
		bgp := func(o v3.Object) *v3.NodeBGPSpec {
			if b := o.(*v3.Node).Spec.BGP; b != nil {
				return b
			}
			return &v3.NodeBGPSpec{}
		}
		add(false, "ASN", func(o v3.Object) string {
			if as := bgp(o).ASNumber; as != nil {
				return as.String()
			}
			return "(global)"
		})
		add(false, "IPV4", func(o v3.Object) string { return bgp(o).IPv4Address })
		add(false, "IPV6", func(o v3.Object) string { return bgp(o).IPv6Address })
	case "Profile":
		add(false, "LABELS", func(o v3.Object) string { return labelString(o.(*v3.Profile).Spec.LabelsToApply) })
	}
	return cols
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}
