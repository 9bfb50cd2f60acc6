// Command calico-ipam is the CNI IPAM plugin that hands out pod
// addresses from Calico's IP pools (see internal/cni and internal/ipam).
package main

import "github.com/calicong/calico/internal/cni"

func main() { cni.IPAMMain() }
