// Package config is PLBA's configuration manager: layered, typed, validated
// and reloadable configuration, built on koanf (merging, key paths,
// decoding) and go-playground/validator (validation tags).
//
// # Layers
//
// The effective configuration is merged from these layers, lowest first; a
// later layer overrides an earlier one key by key:
//
//  1. defaults: the values already in the structs modules [Manager.Declare];
//  2. YAML files ([Options.Files]), in the order given;
//  3. environment variables with the prefix [Options.EnvPrefix] (default
//     "PLBA_"): the rest of the name, lower-cased, with every double
//     underscore read as a dot, e.g. PLBA_APPS__MAILORDERBOT__WORKERS=8 sets
//     apps.mailorderbot.workers and PLBA_PLATFORM__LOG__LEVEL=debug sets
//     platform.log.level. A single underscore stays part of the key
//     (PLBA_APPS__BOT__MAX_ATTEMPTS → apps.bot.max_attempts). Variables
//     without a double underscore (PLBA_CONFIG, PLBA_TEST_PG_ADDR) are not
//     configuration and are ignored;
//  4. extra providers ([Options.Providers], e.g. the PostgreSQL provider in
//     package pgconfig), in the order given; they sit above the environment
//     so that a value changed at run time in the database takes effect;
//  5. flags ([Options.Flags], from `--set key.path=value`), highest.
//
// Top-level sections by convention: `platform` (the runtime's own settings,
// declared by pkg/runtime) and `apps.<name>` (one per application).
//
// # Secrets
//
// A string value may hold secret references: ${env:NAME}, ${file:PATH},
// ${ssm:/path} and ${secretsmanager:name}, resolved by the [Resolver]
// registered for the scheme ([Options.Resolvers]; "env" and "file" are
// always there, the AWS ones come from package awsconfig).
// [Manager.SecretRef] tells which reference a value came from. A value that held a reference, a value a provider
// returned as [contracts.Secret], and every field typed [contracts.Secret] in
// a declared struct is secret: [Manager.Redacted], [Manager.WriteEffective],
// log lines and every error message print [contracts.Redacted] instead.
//
// # Typed access and validation
//
// A module declares its configuration with [Manager.Declare]: a pointer to a
// struct holding its defaults, with `koanf` tags naming keys and `validate`
// tags (go-playground/validator) stating rules; a struct may also have a
// `Validate() error` method. The declared subtree is then checked on every
// load and reload: decoding errors, broken rules and unknown keys are
// reported together in one *[Error] (errors.Is(err, [ErrInvalid])) whose
// lines name the key path, the source of the value (file:line, environment
// variable, flag, provider) and the rule. [Get] returns a typed, validated
// value; [Manager.Decode] implements [contracts.Config].
//
// [Manager.Check] additionally reports keys that no declaration covers; the
// runtime calls it once every module has registered, and from then on
// reloads reject such keys too.
//
// # Reload
//
// [Manager.Reload] reads every layer again, validates the whole new
// configuration and only then swaps it in; an invalid configuration is
// logged, returned and the previous one kept. Subscribers
// ([Manager.Subscribe], [OnChange]) are called once per reload in which
// their subtree changed, with the old and new values. [Manager.Watch] polls
// the files and runs provider watchers; SIGHUP and control-plane actions are
// wired by the runner calling Reload. [Manager.Version] is a hash of the
// effective configuration.
//
// # API for the runtime and the CLI
//
//	m, err := config.New(ctx, config.Options{Files: files, Flags: sets, Providers: ps, Resolvers: rs})
//	var inv *config.Error
//	if errors.As(err, &inv) { /* exit 2, print err */ }
//	m.Declare("platform", &platformDefaults)     // and each module its apps.<name>
//	err = m.Check()                              // all declared: unknown keys anywhere
//	cfg, err := config.Get[BotConfig](m, "apps.mailorderbot")
//	cancel := config.OnChange(m, "apps.mailorderbot", func(old, new BotConfig) { ... })
//	go m.Watch(ctx)                              // file polling + provider watchers
//	m.Reload(ctx)                                // SIGHUP, control-plane action
//	m.WriteEffective(os.Stdout, "yaml")          // plba config show
//	m.Redacted()                                 // status pages
package config
