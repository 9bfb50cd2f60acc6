package cni

import (
	"context"
	"errors"
	"net"
	"net/url"
	"syscall"

	"github.com/containernetworking/cni/pkg/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/calicong/calico/internal/ipam"
)

// Plugin-specific CNI error codes (the spec reserves 1-99).
const (
	CodeExhausted uint = 100 // no free address in the pools allowed
	CodeNoPools   uint = 101 // no IP pool may be used
	CodeInUse     uint = 102 // a requested address is taken
	// CodeNotAvailable is the spec's STATUS code: cannot service ADDs.
	CodeNotAvailable uint = 50
)

// argsError marks missing or bad CNI_ARGS (code 4).
type argsError struct{ error }

func (e argsError) Unwrap() error { return e.error }

// asCNIError turns any error into a CNI error object with the spec's code
// and a message that says what to fix.
func asCNIError(err error, what string) *types.Error {
	if err == nil {
		return nil
	}
	var te *types.Error
	if errors.As(err, &te) {
		return te
	}
	msg := what + ": " + err.Error()
	var ce *ConfError
	var ae argsError
	var ne *NetnsError
	switch {
	case errors.As(err, &ce):
		return types.NewError(types.ErrInvalidNetworkConfig, msg, "fix the CNI configuration in /etc/cni/net.d")
	case errors.As(err, &ae):
		return types.NewError(types.ErrInvalidEnvironmentVariables, msg, "")
	case errors.As(err, &ne):
		return types.NewError(types.ErrInvalidNetNS, msg, "")
	case errors.Is(err, ipam.ErrExhausted):
		return types.NewError(CodeExhausted, msg, "add an IP pool, enlarge one, or release leaked addresses (calicoctl ipam check)")
	case errors.Is(err, ipam.ErrNoPools):
		return types.NewError(CodeNoPools, msg, "create or enable an IP pool that selects this node")
	case errors.Is(err, ipam.ErrInUse):
		return types.NewError(CodeInUse, msg, "")
	case unreachable(err):
		return types.NewError(types.ErrTryAgainLater, msg, "the Kubernetes API server could not be reached; the runtime will retry")
	}
	return types.NewError(types.ErrInternal, msg, "")
}

// unreachable tells whether an error means the API server could not be
// reached (or is overloaded): worth retrying later.
func unreachable(err error) bool {
	var ue *url.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &oe):
		return true
	case errors.As(err, &ue):
		return true
	}
	return apierrors.IsServerTimeout(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err)
}
