package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// AlertmanagerEnv names the environment variable that, when set, is the path
// of the Alertmanager binary to use.
const AlertmanagerEnv = "POSTMORTEMD_TEST_ALERTMANAGER"

const (
	amReadyTimeout   = 20 * time.Second
	amClusterTimeout = 30 * time.Second
	amStopGrace      = 5 * time.Second
	amStartRetries   = 3
	// amGossipInterval is much shorter than Alertmanager's 200ms default:
	// a peer does not send notifications until gossip has "settled", which
	// takes about 5 gossip intervals times 10.
	amGossipInterval = 50 * time.Millisecond
)

// AlertmanagerConfig describes the alertmanager.yml that StartAlertmanager
// writes. Zero fields get the defaults documented on each field.
type AlertmanagerConfig struct {
	// Receivers are the webhook receivers. With no receivers, alerts are
	// accepted but go nowhere. With exactly one receiver that has no
	// Matchers, it is the receiver of the root route, so a group key looks
	// like {}:{alertname="X"}. Otherwise the root route's receiver is a
	// receiver named "null" with no notifiers, and each receiver gets a child
	// route with its Matchers and continue: true, so an alert goes to every
	// receiver whose matchers it satisfies; group keys then look like
	// {}/{}:{alertname="X"} (for a receiver without matchers).
	Receivers []WebhookReceiver

	// GroupBy is the route's group_by; the default is [alertname]. Use
	// []string{"..."} to group by all labels.
	GroupBy []string
	// GroupWait is the route's group_wait; the default is 1s.
	GroupWait time.Duration
	// GroupInterval is the route's group_interval; the default is 1s.
	GroupInterval time.Duration
	// RepeatInterval is the route's repeat_interval; the default is 1h.
	RepeatInterval time.Duration
	// ResolveTimeout is global.resolve_timeout, the time after which an
	// alert without EndsAt is resolved; the default is Alertmanager's (5m).
	ResolveTimeout time.Duration

	// PeerTimeout is --cluster.peer-timeout, used only by
	// StartAlertmanagerCluster: the peer at position i in the cluster
	// waits i*PeerTimeout before notifying, so that it can see that an
	// earlier peer already did. The default is 2s.
	PeerTimeout time.Duration

	// LogLevel is --log.level (debug, info, warn or error); the default is
	// info.
	LogLevel string
}

// WebhookReceiver is one Alertmanager receiver with one webhook_config.
type WebhookReceiver struct {
	// Name is the receiver's name; the default is "webhook-N", where N is
	// the receiver's index in AlertmanagerConfig.Receivers.
	Name string
	// URL is where the webhook is posted; it should be on 127.0.0.1, such
	// as an httptest.Server's URL.
	URL string
	// BearerToken, if set, is sent as "Authorization: Bearer <token>"
	// (http_config.authorization.credentials).
	BearerToken string
	// BasicAuthUsername and BasicAuthPassword, if either is set, are sent
	// with HTTP basic authentication. They cannot be combined with
	// BearerToken.
	BasicAuthUsername string
	BasicAuthPassword string
	// SendResolved is written as send_resolved. Note that the zero value
	// turns notifications about resolved alerts off, although Alertmanager's
	// own default for webhooks is on.
	SendResolved bool
	// MaxAlerts is max_alerts, the most alerts one webhook message carries;
	// 0 means no limit.
	MaxAlerts int
	// Matchers are the matchers of the receiver's child route, such as
	// `severity="page"`; see AlertmanagerConfig.Receivers.
	Matchers []string
	// PagerDutyURL, if set, makes this a PagerDuty (Events API v2) receiver posting to that URL
	// instead of a webhook: Alertmanager then sends its own dedup key (sha256 of the groupKey), as it
	// would to PagerDuty. URL is ignored.
	PagerDutyURL string
}

// Alert is an alert as posted to Alertmanager's v2 API. Zero times are
// left out of the JSON, so Alertmanager fills them in.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Alertmanager is an Alertmanager process started by StartAlertmanager or
// StartAlertmanagerCluster.
type Alertmanager struct {
	tb          testing.TB
	url         string
	clusterAddr string // empty when clustering is off
	configPath  string
	version     string
	proc        *process
	client      *http.Client
}

// StartAlertmanager starts one Alertmanager, with clustering disabled, on a
// free port on 127.0.0.1, configured from cfg, and waits until it is ready.
//
// The binary is the one named by POSTMORTEMD_TEST_ALERTMANAGER, or else
// alertmanager or prometheus-alertmanager on PATH or in /usr/bin. When it is
// missing the test is skipped, or failed if CI is "true". A cleanup function
// stops the process and, if the test failed, writes its output and
// configuration to the test log.
func StartAlertmanager(tb testing.TB, cfg AlertmanagerConfig) *Alertmanager {
	tb.Helper()
	return startAlertmanagers(tb, cfg, 1, false)[0]
}

// StartAlertmanagerCluster starts n Alertmanager peers on 127.0.0.1 that
// gossip with each other as one high-availability cluster, all configured
// from cfg. It returns once every peer reports all n peers in
// /api/v2/status and has finished settling (before that a peer sends no
// notifications); this takes a few seconds. Each peer sends its own webhook
// notifications, delayed by its position times cfg.PeerTimeout, and skips
// those that an earlier peer has already sent.
func StartAlertmanagerCluster(tb testing.TB, cfg AlertmanagerConfig, n int) []*Alertmanager {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("testenv: StartAlertmanagerCluster needs n >= 1, got %d", n)
	}
	return startAlertmanagers(tb, cfg, n, true)
}

func startAlertmanagers(tb testing.TB, cfg AlertmanagerConfig, n int, ha bool) []*Alertmanager {
	tb.Helper()
	bin := alertmanagerBinary(tb)
	configJSON, err := cfg.render()
	if err != nil {
		tb.Fatalf("testenv: Alertmanager config: %v", err)
	}
	version := binaryVersion(bin)

	var lastErr error
	for attempt := 1; attempt <= amStartRetries; attempt++ {
		ams := make([]*Alertmanager, n)
		clusterAddrs := make([]string, n)
		if ha {
			for i := range clusterAddrs {
				clusterAddrs[i] = fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
			}
		}
		for i := range ams {
			am := newAlertmanager(tb, bin, version, cfg, configJSON, i, clusterAddrs)
			ams[i] = am
			if _, err := am.proc.start(); err != nil {
				tb.Fatalf("testenv: %v", err)
			}
			tb.Cleanup(func() {
				am.stop()
				if tb.Failed() {
					tb.Logf("testenv: Alertmanager %s output:\n%s", am.url, am.proc.logTail())
					tb.Logf("testenv: Alertmanager configuration %s:\n%s", am.configPath, configJSON)
				}
			})
		}
		lastErr = waitAlertmanagers(ams, ha)
		if lastErr == nil {
			return ams
		}
		stopAll(ams)
		for _, am := range ams {
			tb.Logf("testenv: attempt %d: Alertmanager %s output:\n%s", attempt, am.url, am.proc.logTail())
		}
		tb.Logf("testenv: attempt %d to start Alertmanager failed: %v", attempt, lastErr)
	}
	tb.Fatalf("testenv: could not start Alertmanager: %v", lastErr)
	return nil
}

func newAlertmanager(tb testing.TB, bin, version string, cfg AlertmanagerConfig, configJSON []byte, i int, clusterAddrs []string) *Alertmanager {
	tb.Helper()
	dir := tb.TempDir()
	configPath := filepath.Join(dir, "alertmanager.yml")
	// JSON is YAML, and encoding/json quotes every string safely.
	if err := os.WriteFile(configPath, configJSON, 0o600); err != nil {
		tb.Fatalf("testenv: write Alertmanager config: %v", err)
	}
	storage := filepath.Join(dir, "data")
	if err := os.Mkdir(storage, 0o700); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	port := FreePort(tb)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	logLevel := cfg.LogLevel
	if logLevel == "" {
		logLevel = "info"
	}
	args := []string{
		"--config.file=" + configPath,
		"--storage.path=" + storage,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--web.external-url=" + url,
		"--log.level=" + logLevel,
	}
	am := &Alertmanager{
		tb:         tb,
		url:        url,
		configPath: configPath,
		version:    version,
		client: &http.Client{
			Transport: &http.Transport{Proxy: nil},
			Timeout:   10 * time.Second,
		},
	}
	if len(clusterAddrs) == 0 {
		// An empty listen address disables clustering (HA mode).
		args = append(args, "--cluster.listen-address=")
	} else {
		self := clusterAddrs[i]
		am.clusterAddr = self
		peerTimeout := cfg.PeerTimeout
		if peerTimeout <= 0 {
			peerTimeout = 2 * time.Second
		}
		args = append(args,
			"--cluster.listen-address="+self,
			// Required: Alertmanager refuses to advertise a loopback
			// address it picked itself.
			"--cluster.advertise-address="+self,
			"--cluster.peer-timeout="+peerTimeout.String(),
			"--cluster.gossip-interval="+amGossipInterval.String(),
			"--cluster.reconnect-interval=1s",
			"--cluster.settle-timeout=15s",
		)
		for j, addr := range clusterAddrs {
			if j != i {
				args = append(args, "--cluster.peer="+addr)
			}
		}
	}
	am.proc = &process{
		name:    "alertmanager",
		path:    bin,
		args:    args,
		logPath: filepath.Join(dir, "alertmanager.log"),
	}
	return am
}

// alertmanagerBinary finds the Alertmanager binary or skips/fails the test.
func alertmanagerBinary(tb testing.TB) string {
	tb.Helper()
	return binary(tb, AlertmanagerEnv, []string{"alertmanager", "prometheus-alertmanager"}, []string{"/usr/bin"},
		"Alertmanager (alertmanager or prometheus-alertmanager)", "apt-get install prometheus-alertmanager, or set "+AlertmanagerEnv)
}

var (
	versionsMu sync.Mutex
	versions   = map[string]string{}
	versionRE  = regexp.MustCompile(`version (\S+)`)
)

// binaryVersion returns the version printed by "bin --version", such as
// 0.25.0, or the first line of its output if that has no version.
func binaryVersion(bin string) string {
	versionsMu.Lock()
	defer versionsMu.Unlock()
	if v, ok := versions[bin]; ok {
		return v
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	v := strings.TrimSpace(string(out))
	if m := versionRE.FindStringSubmatch(v); m != nil {
		v = m[1]
	} else if first, _, _ := strings.Cut(v, "\n"); first != "" {
		v = first
	} else if err != nil {
		v = "unknown (" + err.Error() + ")"
	}
	versions[bin] = v
	return v
}

// waitAlertmanagers waits until every Alertmanager answers /-/ready and, for
// a cluster, sees all peers and has settled.
func waitAlertmanagers(ams []*Alertmanager, ha bool) error {
	for _, am := range ams {
		run := am.proc.running()
		if run == nil {
			return errors.New("alertmanager is not running")
		}
		if err := waitReady(run, "alertmanager "+am.url, amReadyTimeout, am.ready); err != nil {
			return err
		}
	}
	if !ha {
		return nil
	}
	for _, am := range ams {
		run := am.proc.running()
		err := waitReady(run, "alertmanager cluster peer "+am.url, amClusterTimeout, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			st, err := am.status(ctx)
			if err != nil {
				return err
			}
			if len(st.Cluster.Peers) != len(ams) || st.Cluster.Status != "ready" {
				return fmt.Errorf("cluster status %q with %d of %d peers", st.Cluster.Status, len(st.Cluster.Peers), len(ams))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops the Alertmanagers one after the other, last first, as the
// cleanup functions do. Peers of a cluster that get SIGTERM at the same time
// hang while leaving the cluster until they are killed, while one at a time
// each exits within a fraction of a second.
func stopAll(ams []*Alertmanager) {
	for i := len(ams) - 1; i >= 0; i-- {
		ams[i].stop()
	}
}

func (am *Alertmanager) stop() {
	am.proc.stop(amStopGrace)
	am.client.CloseIdleConnections()
}

// URL returns the base URL of the Alertmanager's API and UI, such as
// http://127.0.0.1:PORT.
func (am *Alertmanager) URL() string { return am.url }

// ClusterAddr returns the host:port the Alertmanager gossips on, or "" if
// it was started by StartAlertmanager without clustering.
func (am *Alertmanager) ClusterAddr() string { return am.clusterAddr }

// Version returns the Alertmanager version from the binary's --version
// output, such as "0.25.0".
func (am *Alertmanager) Version() string { return am.version }

// Stop stops the Alertmanager process, for example to test the failure of
// one peer of a cluster. It cannot be started again.
func (am *Alertmanager) Stop() {
	am.tb.Helper()
	am.stop()
}

// PostAlerts posts alerts to the Alertmanager's v2 API
// (POST /api/v2/alerts), as Prometheus does. An alert with EndsAt in the
// past resolves an alert with the same labels.
func (am *Alertmanager) PostAlerts(ctx context.Context, alerts ...Alert) error {
	if alerts == nil {
		alerts = []Alert{}
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, am.url+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := am.client.Do(req)
	if err != nil {
		return fmt.Errorf("post alerts to %s: %w", am.url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("post alerts to %s: %s: %s", am.url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// ready checks GET /-/ready.
func (am *Alertmanager) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, am.url+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := am.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /-/ready: %s", resp.Status)
	}
	return nil
}

// amStatus is the part of GET /api/v2/status that testenv reads.
type amStatus struct {
	Cluster struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Peers  []struct {
			Name    string `json:"name"`
			Address string `json:"address"`
		} `json:"peers"`
	} `json:"cluster"`
}

func (am *Alertmanager) status(ctx context.Context) (*amStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, am.url+"/api/v2/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := am.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v2/status: %s", resp.Status)
	}
	var st amStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("GET /api/v2/status: %w", err)
	}
	return &st, nil
}

// Types of the generated alertmanager.yml. The file is written as JSON,
// which YAML parsers accept.
type (
	amFile struct {
		Global    *amGlobal    `json:"global,omitempty"`
		Route     amRoute      `json:"route"`
		Receivers []amReceiver `json:"receivers"`
	}
	amGlobal struct {
		ResolveTimeout string `json:"resolve_timeout,omitempty"`
	}
	amRoute struct {
		Receiver       string    `json:"receiver"`
		GroupBy        []string  `json:"group_by,omitempty"`
		GroupWait      string    `json:"group_wait,omitempty"`
		GroupInterval  string    `json:"group_interval,omitempty"`
		RepeatInterval string    `json:"repeat_interval,omitempty"`
		Matchers       []string  `json:"matchers,omitempty"`
		Continue       bool      `json:"continue,omitempty"`
		Routes         []amRoute `json:"routes,omitempty"`
	}
	amReceiver struct {
		Name             string        `json:"name"`
		WebhookConfigs   []amWebhook   `json:"webhook_configs,omitempty"`
		PagerdutyConfigs []amPagerDuty `json:"pagerduty_configs,omitempty"`
	}
	amPagerDuty struct {
		URL          string `json:"url"`
		RoutingKey   string `json:"routing_key"`
		SendResolved bool   `json:"send_resolved"`
	}
	amWebhook struct {
		URL          string        `json:"url"`
		SendResolved bool          `json:"send_resolved"`
		MaxAlerts    int           `json:"max_alerts,omitempty"`
		HTTPConfig   *amHTTPConfig `json:"http_config,omitempty"`
	}
	amHTTPConfig struct {
		Authorization *amAuthorization `json:"authorization,omitempty"`
		BasicAuth     *amBasicAuth     `json:"basic_auth,omitempty"`
	}
	amAuthorization struct {
		Type        string `json:"type"`
		Credentials string `json:"credentials"`
	}
	amBasicAuth struct {
		Username string `json:"username"`
		Password string `json:"password,omitempty"`
	}
)

// render returns the alertmanager.yml for the configuration.
func (cfg AlertmanagerConfig) render() ([]byte, error) {
	groupBy := cfg.GroupBy
	if len(groupBy) == 0 {
		groupBy = []string{"alertname"}
	}
	f := amFile{
		Route: amRoute{
			GroupBy:        groupBy,
			GroupWait:      amDuration(cfg.GroupWait, time.Second),
			GroupInterval:  amDuration(cfg.GroupInterval, time.Second),
			RepeatInterval: amDuration(cfg.RepeatInterval, time.Hour),
		},
	}
	if cfg.ResolveTimeout > 0 {
		f.Global = &amGlobal{ResolveTimeout: amDuration(cfg.ResolveTimeout, 0)}
	}
	seen := map[string]bool{}
	for i, r := range cfg.Receivers {
		name := r.Name
		if name == "" {
			name = "webhook-" + strconv.Itoa(i)
		}
		if seen[name] || name == "null" {
			return nil, fmt.Errorf("receiver name %q is used twice or reserved", name)
		}
		seen[name] = true
		if r.PagerDutyURL != "" {
			f.Receivers = append(f.Receivers, amReceiver{Name: name, PagerdutyConfigs: []amPagerDuty{
				{URL: r.PagerDutyURL, RoutingKey: "testenv-routing-key", SendResolved: r.SendResolved}}})
			f.Route.Routes = append(f.Route.Routes, amRoute{Receiver: name, Matchers: r.Matchers, Continue: true})
			continue
		}
		if r.URL == "" {
			return nil, fmt.Errorf("receiver %q has no URL", name)
		}
		if r.MaxAlerts < 0 {
			return nil, fmt.Errorf("receiver %q: negative MaxAlerts", name)
		}
		wh := amWebhook{URL: r.URL, SendResolved: r.SendResolved, MaxAlerts: r.MaxAlerts}
		hasBasic := r.BasicAuthUsername != "" || r.BasicAuthPassword != ""
		if r.BearerToken != "" && hasBasic {
			return nil, fmt.Errorf("receiver %q: BearerToken and basic auth cannot be combined", name)
		}
		if r.BearerToken != "" {
			wh.HTTPConfig = &amHTTPConfig{Authorization: &amAuthorization{Type: "Bearer", Credentials: r.BearerToken}}
		}
		if hasBasic {
			wh.HTTPConfig = &amHTTPConfig{BasicAuth: &amBasicAuth{Username: r.BasicAuthUsername, Password: r.BasicAuthPassword}}
		}
		f.Receivers = append(f.Receivers, amReceiver{Name: name, WebhookConfigs: []amWebhook{wh}})
		f.Route.Routes = append(f.Route.Routes, amRoute{Receiver: name, Matchers: r.Matchers, Continue: true})
	}
	if len(cfg.Receivers) == 1 && len(cfg.Receivers[0].Matchers) == 0 {
		f.Route.Receiver = f.Receivers[0].Name
		f.Route.Routes = nil
	} else {
		f.Route.Receiver = "null"
		f.Receivers = append(f.Receivers, amReceiver{Name: "null"})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// amDuration formats d, or def if d is zero, in a form Alertmanager 0.25
// parses (a single number and unit).
func amDuration(d, def time.Duration) string {
	if d <= 0 {
		d = def
	}
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		ms := d.Milliseconds()
		if ms < 1 {
			ms = 1
		}
		return fmt.Sprintf("%dms", ms)
	}
}
