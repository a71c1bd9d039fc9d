// Command gatewaybench drives the gateway benchmark (see run.sh): it signs
// the identity header a service in split mode requires, and measures
// latency under a fixed request rate (open loop, so a slow answer does not
// hold back the next request and hide itself).
//
//	gatewaybench sign -secret S -method GET -path /api/v1/agents/ID
//	gatewaybench rate -url URL [-key K | -secret S] -rate 1000 -duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/ossa-platform/ossa/internal/auth"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gatewaybench sign|rate [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "sign":
		err = sign(os.Args[2:])
	case "rate":
		err = rate(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

// sign prints the identity headers of an admin principal for one request,
// one "Name: value" per line, valid for auth.DefaultMaxAge.
func sign(args []string) error {
	fs := flag.NewFlagSet("sign", flag.ExitOnError)
	secret := fs.String("secret", "", "internal secret")
	method := fs.String("method", http.MethodGet, "request method")
	path := fs.String("path", "", "request path")
	_ = fs.Parse(args)
	h, err := signed(*secret, *method, *path)
	if err != nil {
		return err
	}
	for _, k := range []string{auth.IdentityHeader, auth.SignatureHeader} {
		fmt.Printf("%s: %s\n", k, h.Get(k))
	}
	return nil
}

func signed(secret, method, path string) (http.Header, error) {
	f, err := auth.NewForwarder(secret)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	err = f.Sign(h, auth.Principal{Subject: "key:bench", Name: "bench", Role: auth.RoleAdmin}, method, path, "")
	return h, err
}

// rate sends GET url at a fixed rate for a duration and prints achieved
// rate, p50, p90, p99 and max latency, measured from each request's
// scheduled time.
func rate(args []string) error {
	fs := flag.NewFlagSet("rate", flag.ExitOnError)
	target := fs.String("url", "", "URL to GET")
	key := fs.String("key", "", "API key (bearer)")
	secret := fs.String("secret", "", "internal secret: sign the gateway identity instead of sending a key")
	perSec := fs.Int("rate", 1000, "requests per second")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	label := fs.String("label", "", "row label")
	_ = fs.Parse(args)
	u, err := url.Parse(*target)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	interval := time.Second / time.Duration(*perSec)
	n := int(*duration / interval)
	lat := make([]time.Duration, n)
	errs := make([]bool, n)
	var wg sync.WaitGroup
	start := time.Now()
	ctx := context.Background()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
			if *key != "" {
				req.Header.Set("Authorization", "Bearer "+*key)
			}
			if *secret != "" {
				h, _ := signed(*secret, http.MethodGet, u.EscapedPath())
				for k, v := range h {
					req.Header[k] = v
				}
			}
			resp, err := hc.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			lat[i] = time.Since(at)
			errs[i] = err != nil || resp.StatusCode != http.StatusOK
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	failed := 0
	for _, e := range errs {
		if e {
			failed++
		}
	}
	slices.Sort(lat)
	pct := func(p float64) string {
		d := lat[min(len(lat)-1, int(float64(len(lat))*p))]
		return fmt.Sprintf("%.3f", float64(d.Microseconds())/1000)
	}
	fmt.Printf("| %s | %d | %.0f | %s | %s | %s | %s | %d |\n", *label, *perSec, float64(n)/elapsed.Seconds(),
		pct(0.50), pct(0.90), pct(0.99), fmt.Sprintf("%.3f", float64(lat[len(lat)-1].Microseconds())/1000), failed)
	return nil
}
