package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// cspProbe is run in every document before the page's own content: it
// keeps the page's Content-Security-Policy violations for the test.
const cspProbe = `window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`

// videoState describes the page's video, for failure messages.
const videoState = `(() => {
	const v = document.querySelector('video');
	if (!v) return 'no <video> element';
	return JSON.stringify({readyState: v.readyState, networkState: v.networkState, error: v.error && (v.error.code + ' ' + v.error.message),
		currentTime: v.currentTime, duration: v.duration, paused: v.paused, seeking: v.seeking, src: v.currentSrc,
		canPlay: v.canPlayType('video/mp4; codecs="avc1.42E01E, mp4a.40.2"')});
})()`

// TestBrowserPlaysAndSeeksVideo opens a channel's public page in headless
// Chromium and checks that its video, served by GET /v1/blobs with Range
// requests, loads, plays and seeks, that the poster loads, and that the
// page's Content-Security-Policy blocks neither.
//
// It needs Debian's chromium at /usr/bin/chromium (apt-get install -y
// chromium) and fails without it, unless PARLEY_SKIP_BROWSER=1.
func TestBrowserPlaysAndSeeksVideo(t *testing.T) {
	chromium := needTool(t, chromiumPath, "PARLEY_SKIP_BROWSER", "apt-get install -y chromium")
	srv := parleytest.Start(t, server.Config{})
	clip := postClip(t, srv, "clips", true)
	pageURL := srv.URL + "/c/clips"
	clipURL := srv.URL + "/v1/blobs/" + hex.EncodeToString(clip.SHA256[:])
	posterURL := srv.URL + "/v1/blobs/" + hex.EncodeToString(clip.Poster[:])

	// The browser, with the flags that work on a machine without a network
	// besides loopback, and a fresh profile.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()),
	)
	// Hang guards: the whole browser, and the steps. Nothing is timed.
	actx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(actx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chromium, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	// What the tab reports: responses of the clip and the poster, the
	// browser's log, console calls and uncaught exceptions.
	var (
		mu         sync.Mutex
		clipStatus []int64
		posterOK   bool
		exceptions []string
		logged     []string
	)
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventResponseReceived:
			switch ev.Response.URL {
			case clipURL:
				clipStatus = append(clipStatus, ev.Response.Status)
			case posterURL:
				posterOK = posterOK || ev.Response.Status == http.StatusOK
			}
		case *runtime.EventExceptionThrown:
			exceptions = append(exceptions, ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			logged = append(logged, fmt.Sprintf("console.%s %d args", ev.Type, len(ev.Args)))
		case *log.EventEntryAdded:
			logged = append(logged, fmt.Sprintf("%s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("opening %s: %v", pageURL, err)
	}

	// fail reports the video's state with the error.
	fail := func(step string, err error) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 5*time.Second)
		defer cancel()
		state, serr := chromedp.Run(sctx, chromedp.Evaluate[string](videoState))
		t.Fatalf("%s: %v\nvideo: %s %v", step, err, state, serr)
	}

	// The element, as the template wrote it.
	type element struct {
		Src, Poster, Preload string
		Controls             bool
	}
	el, err := chromedp.Run(ctx, chromedp.Evaluate[element](`(() => { const v = document.querySelector('video');
		return {src: v.src, poster: v.poster, preload: v.preload, controls: v.controls}; })()`))
	if err != nil {
		fail("reading the <video> element", err)
	}
	if want := (element{Src: clipURL, Poster: posterURL, Preload: "metadata", Controls: true}); el != want {
		t.Fatalf("<video> = %+v, want %+v", el, want)
	}

	// Loaded: HAVE_CURRENT_DATA (2) or more, with the clip's metadata.
	const poll = `(() => { const v = document.querySelector('video'); return v.error ? -1 : (%s); })()`
	rs, err := chromedp.Run(ctx, chromedp.Poll[float64](fmt.Sprintf(poll, "v.readyState >= 2 ? v.readyState : 0"),
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err != nil || rs < 0 {
		fail("waiting for readyState >= 2", err)
	}
	type meta struct {
		Duration      float64
		Width, Height int
	}
	m, err := chromedp.Run(ctx, chromedp.Evaluate[meta](`(() => { const v = document.querySelector('video');
		return {duration: v.duration, width: v.videoWidth, height: v.videoHeight}; })()`))
	if err != nil || math.Abs(m.Duration-float64(clipDurationMS)/1000) > 0.1 || m.Width != clipWidth || m.Height != clipHeight {
		t.Fatalf("video metadata = %+v, %v; want %d ms, %dx%d", m, err, clipDurationMS, clipWidth, clipHeight)
	}

	// Plays: muted, so no user gesture is needed; time moves past 0.5 s.
	playing, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(async () => { const v = document.querySelector('video');
		v.muted = true; await v.play(); return !v.paused; })()`, chromedp.EvalAwaitPromise))
	if err != nil || !playing {
		fail("play()", err)
	}
	at, err := chromedp.Run(ctx, chromedp.Poll[float64](fmt.Sprintf(poll, "v.currentTime > 0.5 ? v.currentTime : 0"),
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err != nil || at < 0 {
		fail("waiting for currentTime > 0.5", err)
	}

	// Seeks to 3 s: the 'seeked' event, then a frame there.
	seeked, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`new Promise((resolve, reject) => {
		const v = document.querySelector('video');
		v.pause();
		v.addEventListener('seeked', () => resolve(v.currentTime), {once: true});
		v.addEventListener('error', () => reject(new Error('media error ' + v.error.code)), {once: true});
		v.currentTime = 3.0;
	})`, chromedp.EvalAwaitPromise))
	if err != nil || math.Abs(seeked-3) > 0.5 {
		fail(fmt.Sprintf("seeking to 3 s (at %.3f s)", seeked), err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[float64](fmt.Sprintf(poll, "!v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - 3) < 0.5 ? 1 : 0"),
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(0))); err != nil {
		fail("waiting for the frame at 3 s", err)
	}

	// A screenshot of the page, kept with -artifacts.
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Empty() {
		t.Fatalf("screenshot is not a PNG with pixels: %v", err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "channel-page.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}

	// The Content-Security-Policy blocked nothing of ours; a control load
	// that it must block shows that violations are seen.
	const control = "http://127.0.0.2:1/control.png"
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(resolve => {
		document.addEventListener('securitypolicyviolation', () => resolve(true), {once: true});
		new Image().src = '`+control+`';
	})`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("the control CSP violation: %v", err)
	}
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp`))
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) != 1 || !strings.HasSuffix(violations[0], control) {
		t.Errorf("CSP violations: %q; want only the control %s", violations, control)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, l := range logged {
		t.Logf("browser: %s", l)
	}
	if len(exceptions) > 0 {
		t.Errorf("JavaScript exceptions: %q", exceptions)
	}
	if !posterOK {
		t.Error("the poster was not loaded")
	}
	partial := 0
	for _, s := range clipStatus {
		if s == http.StatusPartialContent {
			partial++
		}
	}
	if partial == 0 {
		t.Errorf("the clip's responses %v have no 206: the browser made no Range request", clipStatus)
	}
	t.Logf("clip responses: %v", clipStatus)

	// And a Range request of our own.
	req, _ := http.NewRequest(http.MethodGet, clipURL, nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf("bytes 100-199/%d", clip.Size)
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != want || !bytes.Equal(got, readTestdata(t, "clip.mp4")[100:200]) {
		t.Errorf("Range request: %d %q, %d bytes; want 206 %q", resp.StatusCode, resp.Header.Get("Content-Range"), len(got), want)
	}
}
