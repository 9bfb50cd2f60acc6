package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// config is Typha's configuration, from TYPHA_* environment variables
// (Calico's names and defaults).
type config struct {
	Listen      string // TYPHA_SERVERHOST (all) : TYPHA_SERVERPORT (5473)
	HealthAddr  string // TYPHA_HEALTHHOST : TYPHA_HEALTHPORT (9098); "" when TYPHA_HEALTHENABLED=false
	MetricsAddr string // TYPHA_PROMETHEUSMETRICSHOST : TYPHA_PROMETHEUSMETRICSPORT (9093); "" unless enabled

	CAFile, CertFile, KeyFile string // TYPHA_CAFILE, TYPHA_SERVERCERTFILE, TYPHA_SERVERKEYFILE
	ClientCN, ClientURISAN    string // TYPHA_CLIENTCN, TYPHA_CLIENTURISAN

	LowerLimit, UpperLimit int    // TYPHA_MAXCONNECTIONSLOWERLIMIT (400), TYPHA_MAXCONNECTIONSUPPERLIMIT (10000)
	Rebalancing            string // TYPHA_CONNECTIONREBALANCINGMODE: none | kubernetes (default)
	ServiceName, Namespace string // TYPHA_K8SSERVICENAME (calico-typha), TYPHA_K8SNAMESPACE (kube-system)
	PollInterval           time.Duration

	ShutdownTimeout  time.Duration // TYPHA_SHUTDOWNTIMEOUTSECS (300)
	MaxFallBehind    time.Duration // TYPHA_MAXFALLBEHINDSECS (300)
	PingInterval     time.Duration // TYPHA_PINGINTERVALSECS (10)
	PongTimeout      time.Duration // TYPHA_PONGTIMEOUTSECS (60)
	HandshakeTimeout time.Duration // TYPHA_SERVERHANDSHAKETIMEOUTSECS (10)
	MaxBatch         int           // TYPHA_SNAPSHOTCACHEMAXBATCHSIZE (100)
	LogLevel         slog.Level    // TYPHA_LOGSEVERITYSCREEN (info)
}

func (c config) tls() bool { return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" }

// parseConfig reads the configuration; every error names the variable.
func parseConfig(getenv func(string) string) (config, error) {
	var errs []error
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	num := func(name string, def, lo int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo {
			errs = append(errs, fmt.Errorf("%s=%q: want an integer of at least %d", name, v, lo))
			return def
		}
		return n
	}
	secs := func(name string, def int) time.Duration {
		return time.Duration(num(name, def, 0)) * time.Second
	}
	boolean := func(name string, def bool) bool {
		v := getenv(name)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", name, v))
			return def
		}
		return b
	}
	port := func(name string, def int) string { return strconv.Itoa(num(name, def, 1)) }

	c := config{
		Listen:           net.JoinHostPort(str("TYPHA_SERVERHOST", ""), port("TYPHA_SERVERPORT", 5473)),
		CAFile:           str("TYPHA_CAFILE", ""),
		CertFile:         str("TYPHA_SERVERCERTFILE", ""),
		KeyFile:          str("TYPHA_SERVERKEYFILE", ""),
		ClientCN:         str("TYPHA_CLIENTCN", ""),
		ClientURISAN:     str("TYPHA_CLIENTURISAN", ""),
		LowerLimit:       num("TYPHA_MAXCONNECTIONSLOWERLIMIT", 400, 1),
		UpperLimit:       num("TYPHA_MAXCONNECTIONSUPPERLIMIT", 10000, 1),
		Rebalancing:      strings.ToLower(str("TYPHA_CONNECTIONREBALANCINGMODE", "kubernetes")),
		ServiceName:      str("TYPHA_K8SSERVICENAME", "calico-typha"),
		Namespace:        str("TYPHA_K8SNAMESPACE", "kube-system"),
		PollInterval:     secs("TYPHA_K8SSERVICEPOLLINTERVALSECS", 30),
		ShutdownTimeout:  secs("TYPHA_SHUTDOWNTIMEOUTSECS", 300),
		MaxFallBehind:    secs("TYPHA_MAXFALLBEHINDSECS", 300),
		PingInterval:     secs("TYPHA_PINGINTERVALSECS", 10),
		PongTimeout:      secs("TYPHA_PONGTIMEOUTSECS", 60),
		HandshakeTimeout: secs("TYPHA_SERVERHANDSHAKETIMEOUTSECS", 10),
		MaxBatch:         num("TYPHA_SNAPSHOTCACHEMAXBATCHSIZE", 100, 1),
	}
	if boolean("TYPHA_HEALTHENABLED", true) {
		c.HealthAddr = net.JoinHostPort(str("TYPHA_HEALTHHOST", ""), port("TYPHA_HEALTHPORT", 9098))
	}
	if boolean("TYPHA_PROMETHEUSMETRICSENABLED", false) {
		c.MetricsAddr = net.JoinHostPort(str("TYPHA_PROMETHEUSMETRICSHOST", ""), port("TYPHA_PROMETHEUSMETRICSPORT", 9093))
	}
	switch lv := strings.ToLower(str("TYPHA_LOGSEVERITYSCREEN", "info")); lv {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warning", "warn":
		c.LogLevel = slog.LevelWarn
	case "error", "fatal", "panic":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("TYPHA_LOGSEVERITYSCREEN=%q: want debug, info, warning or error", lv))
	}
	if c.Rebalancing != "none" && c.Rebalancing != "kubernetes" {
		errs = append(errs, fmt.Errorf("TYPHA_CONNECTIONREBALANCINGMODE=%q: want none or kubernetes", c.Rebalancing))
	}
	if c.LowerLimit > c.UpperLimit {
		errs = append(errs, fmt.Errorf("TYPHA_MAXCONNECTIONSLOWERLIMIT (%d) is above TYPHA_MAXCONNECTIONSUPPERLIMIT (%d)", c.LowerLimit, c.UpperLimit))
	}
	if c.tls() {
		if c.CAFile == "" || c.CertFile == "" || c.KeyFile == "" {
			errs = append(errs, errors.New("TLS needs all of TYPHA_CAFILE, TYPHA_SERVERCERTFILE and TYPHA_SERVERKEYFILE"))
		}
		if c.ClientCN == "" && c.ClientURISAN == "" {
			errs = append(errs, errors.New("with TLS, set TYPHA_CLIENTCN or TYPHA_CLIENTURISAN: the identity clients' certificates must show"))
		}
	} else if c.ClientCN != "" || c.ClientURISAN != "" {
		errs = append(errs, errors.New("TYPHA_CLIENTCN/TYPHA_CLIENTURISAN are set but TLS is not (TYPHA_CAFILE, TYPHA_SERVERCERTFILE, TYPHA_SERVERKEYFILE)"))
	}
	return c, errors.Join(errs...)
}
