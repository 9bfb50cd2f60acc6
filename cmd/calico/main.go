// Command calico is the CNI plugin that wires pods into the Calico
// network (see internal/cni).
package main

import "github.com/calicong/calico/internal/cni"

func main() { cni.Main() }
