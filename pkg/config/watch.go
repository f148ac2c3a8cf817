package config

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

type subscriber struct {
	path string
	fn   func(old, new *state)
}

// Subscribe calls fn after every reload (or declaration) that changed the
// subtree at path ("" for everything), once per change, with the old and
// the new raw values (nested maps or scalars; nil when absent). Callbacks
// run one at a time in the goroutine that reloaded; they may read the
// manager but must not call Reload or Declare. cancel removes fn.
func (m *Manager) Subscribe(path string, fn func(old, new any)) (cancel func()) {
	return m.subscribe(path, func(o, n *state) { fn(o.get(path), n.get(path)) })
}

// OnChange is the typed Subscribe: fn gets the old and new value at path
// decoded like [Get]. A new value that does not decode or validate never
// reaches fn (the reload that carried it was rejected).
func OnChange[T any](m *Manager, path string, fn func(old, new T)) (cancel func()) {
	return m.subscribe(path, func(o, n *state) {
		ov, _ := getFrom[T](m, o, path)
		nv, err := getFrom[T](m, n, path)
		if err != nil {
			m.log.Error("config: subscriber skipped, value does not decode", "path", path, "error", err.Error())
			return
		}
		fn(ov, nv)
	})
}

func getFrom[T any](m *Manager, st *state, path string) (T, error) {
	var v T
	if d := m.declared(path); d != nil && d.typ == reflect.TypeOf(v) {
		v = d.copyValue().Interface().(T)
	} else if dv, ok := any(v).(interface{ Defaults() T }); ok {
		v = dv.Defaults()
	} else if dp, ok := any(&v).(interface{ Defaults() }); ok {
		dp.Defaults()
	}
	if probs := decodeInto(st, path, &v); len(probs) > 0 {
		return v, st.scrub(&Error{Problems: probs})
	}
	return v, nil
}

func (m *Manager) subscribe(path string, fn func(old, new *state)) func() {
	m.subMu.Lock()
	id := m.nextID
	m.nextID++
	m.subs[id] = &subscriber{path: path, fn: fn}
	m.subMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.subMu.Lock()
			delete(m.subs, id)
			m.subMu.Unlock()
		})
	}
}

// notify calls the subscribers whose subtree differs between old and new.
func (m *Manager) notify(old, new *state) {
	if old.full == new.full {
		return
	}
	m.subMu.Lock()
	subs := make([]*subscriber, 0, len(m.subs))
	ids := make([]int, 0, len(m.subs))
	for id := range m.subs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		subs = append(subs, m.subs[id])
	}
	m.subMu.Unlock()
	for _, s := range subs {
		if !sameJSON(old.get(s.path), new.get(s.path)) {
			s.fn(old, new)
		}
	}
}

func (st *state) get(path string) any {
	if path == "" {
		return st.k.Raw()
	}
	if !st.k.Exists(path) {
		return nil
	}
	v := st.k.Get(path)
	if _, ok := v.(map[string]any); ok {
		return st.k.Cut(path).Raw()
	}
	return v
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return reflect.DeepEqual(a, b)
	}
	return string(ja) == string(jb)
}

// Watch reloads when a file's content changes (polled every
// [Options.WatchInterval]) or a provider implementing
// [contracts.ConfigWatcher] reports a change, until ctx is done; it
// returns nil then. A rejected reload is logged and watching goes on.
// SIGHUP and control-plane actions call [Manager.Reload] directly.
func (m *Manager) Watch(ctx context.Context) error {
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	for _, p := range m.opts.Providers {
		w, ok := p.(contracts.ConfigWatcher)
		if !ok {
			continue
		}
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			if err := w.Watch(ctx, poke); err != nil && ctx.Err() == nil {
				m.log.Error("config: provider watch stopped", "provider", name, "error", err.Error())
			}
		}(p.Name())
	}
	defer wg.Wait()

	last := m.cur.Load().filesFP
	var tick <-chan time.Time
	if len(m.opts.Files) > 0 {
		t := time.NewTicker(m.opts.WatchInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			fp := m.filesFingerprint()
			if fp == last {
				continue
			}
			last = fp
		case <-changed:
		}
		_ = m.Reload(ctx) // logged by Reload
	}
}
