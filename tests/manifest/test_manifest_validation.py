"""Strict validation: every problem pinned to file:line:path, with hints, collected across documents."""

from textwrap import dedent

import pytest

from netlab.manifest import ManifestError, Problem, loads

DEPLOYMENT = dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 2
      selector:
        matchLabels:
          app: web
      template:
        metadata:
          labels:
            app: web
        spec:
          containers:
          - name: nginx
            image: nginx:1.25
            imagePullPolicyy: Always
            ports:
            - containerPort: 80
    """)


def problems(text, **kw):
    """The rendered errors of loading `text` as m.yaml (an empty list when it loads)."""
    try:
        loads(text, "m.yaml", **kw)
    except ManifestError as err:
        return str(err).splitlines()
    return []


def test_unknown_field_names_file_line_path_and_close_field():
    with pytest.raises(ManifestError) as info:
        loads(DEPLOYMENT, "web.yaml")
    (problem,) = info.value.errors
    assert problem == Problem(
        "web.yaml", 18, "spec.template.spec.containers[0].imagePullPolicyy",
        'unknown field "imagePullPolicyy"; did you mean "imagePullPolicy"?',
    )
    assert str(info.value) == ('web.yaml:18: spec.template.spec.containers[0].imagePullPolicyy: '
                               'unknown field "imagePullPolicyy"; did you mean "imagePullPolicy"?')


def test_unknown_field_deep_in_lists_and_without_a_close_match():
    text = dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: a
            image: x
          - name: b
            image: y
            ports:
            - containerPort: 80
            - containerPort: 81
              hostPortt: 8081
              colour: blue
        """)
    assert problems(text) == [
        'm.yaml:13: spec.containers[1].ports[1].hostPortt: unknown field "hostPortt"; did you mean "hostPort"?',
        'm.yaml:14: spec.containers[1].ports[1].colour: unknown field "colour"',
    ]


def test_misplaced_case_gets_a_hint_and_top_level_unknown_fields_are_caught():
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80}]\n  Selector: {a: b}\nspc: {}\n"
    assert problems(text) == [
        'm.yaml:6: spec.Selector: unknown field "Selector"; did you mean "selector"?',
        'm.yaml:7: spc: unknown field "spc"; did you mean "spec"?',
    ]


def test_warn_mode_turns_unknown_fields_into_warnings():
    manifests = loads(DEPLOYMENT, "web.yaml", validate="warn")
    assert [d.name for d in manifests.deployments] == ["web"]
    assert manifests.warnings == [
        'web.yaml:18: spec.template.spec.containers[0].imagePullPolicyy: unknown field '
        '"imagePullPolicyy"; did you mean "imagePullPolicy"?'
    ]


def test_ignore_mode_drops_unknown_fields_silently():
    manifests = loads(DEPLOYMENT, "web.yaml", validate="ignore")
    assert manifests.warnings == []
    assert manifests.deployments[0].template.spec.containers[0].image == "nginx:1.25"


def test_warn_mode_keeps_type_and_required_errors():
    text = DEPLOYMENT.replace("replicas: 2", 'replicas: "2"').replace("        image: nginx:1.25\n", "")
    assert problems(text, validate="warn") == [
        'm.yaml:6: spec.replicas: expected an integer, got a string ("2"): remove the quotes',
        "m.yaml:16: spec.template.spec.containers[0].image: required field is missing: "
        "the container image, e.g. nginx:1.25",
    ]


def test_unknown_validate_mode_is_a_programming_error():
    with pytest.raises(ValueError):
        loads(DEPLOYMENT, validate="yes")


@pytest.mark.parametrize("snippet, expected", [
    ("metadata: {name: p, labels: {version: 1}}",
     'm.yaml:3: metadata.labels[version]: expected a string, got an integer (1): quote it ("1")'),
    ("metadata: {name: p, annotations: {enabled: true}}",
     'm.yaml:3: metadata.annotations[enabled]: expected a string, got a boolean (true): quote it ("true")'),
    ("metadata:\n  - name: p",
     'm.yaml:3: metadata: expected a map, got a list: remove the "- " in front of the fields'),
    ("metadata: {name: p}\nspec:\n  containers:\n    name: c\n    image: i",
     'm.yaml:5: spec.containers: expected a list, got a map: write each item on its own line starting with "- "'),
    ("metadata: {name: p}\nspec:\n  containers: [{name: c, image: i, command: [sh, -c, echo a: b]}]",
     'm.yaml:5: spec.containers[0].command[2]: expected a string, got a map: YAML reads an unquoted '
     'value with ": " in it as a map; quote the value'),
    ("metadata: {name: p}\nspec:\n  containers: [{name: c, image: i, stdin: \"true\"}]",
     'm.yaml:5: spec.containers[0].stdin: expected a boolean (true or false), got a string ("true"): '
     'remove the quotes'),
    ("metadata: {name: p}\nspec:\n  containers: [{name: c, image: i, resources: {limits: {cpu: 1 core}}}]",
     'm.yaml:5: spec.containers[0].resources.limits[cpu]: invalid quantity "1 core": write a number '
     'with an optional suffix, such as 250m, 0.5, 64Mi or 1Gi'),
])
def test_type_errors(snippet, expected):
    text = "apiVersion: v1\nkind: Pod\n" + snippet + "\n"
    if "spec:" not in snippet:
        text += "spec: {containers: [{name: c, image: i}]}\n"
    assert problems(text) == [expected]


def test_int_or_string_and_quantities_accept_both_forms():
    text = dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p, creationTimestamp: null}
        spec:
          containers:
          - name: c
            image: i
            resources: {requests: {cpu: 1, memory: 64Mi}, limits: {cpu: "1.5", memory: 1.5Gi}}
            readinessProbe: {httpGet: {port: http, path: /}}
            livenessProbe: {tcpSocket: {port: 8080}}
            ports: [{containerPort: 8080, name: http}]
        status: {phase: Running, anything: [goes]}
        """)
    assert problems(text) == []


def test_required_fields():
    text = dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {labels: {a: b}}
        spec:
          containers:
          - image: nginx
            env:
            - value: x
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: empty}
        spec: {}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d}
        spec:
          template:
            metadata: {labels: {app: d}}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: nospec}
        ---
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: r}
        spec:
          selector: {matchLabels: {app: r}}
        """)
    assert problems(text) == [
        "m.yaml:3: metadata.name: required field is missing: every Pod needs a name",
        "m.yaml:6: spec.containers[0].name: required field is missing: give the container a name such as web",
        "m.yaml:8: spec.containers[0].env[0].name: required field is missing: the environment variable's name",
        "m.yaml:13: spec.containers: required field is missing: a pod needs at least one container (name and image)",
        "m.yaml:18: spec.selector: required field is missing: apps/v1 needs a selector, e.g. matchLabels: "
        "{app: web}, matching the template's labels",
        "m.yaml:19: spec.template.spec: required field is missing: the pod template needs spec.containers "
        "(name and image)",
        "m.yaml:22: spec: required field is missing: a Pod needs spec.containers (name and image)",
        "m.yaml:29: spec.template: required field is missing: the pod template (metadata.labels and spec.containers)",
    ]


def test_generate_name_is_rejected_with_what_to_do():
    text = "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\nspec: {containers: [{name: c, image: i}]}\n"
    assert problems(text) == [
        "m.yaml:3: metadata.generateName: generateName is not supported by netlab: give the object a "
        "fixed metadata.name"
    ]


def test_selector_must_match_template_labels():
    text = DEPLOYMENT.replace("imagePullPolicyy", "imagePullPolicy").replace("labels:\n        app: web",
                                                                           "labels:\n        app: api")
    assert problems(text) == [
        "m.yaml:12: spec.template.metadata.labels: selector does not match template labels: give the "
        "template labels that spec.selector (app=web) selects (e.g. app: web)"
    ]


def test_selector_expressions_are_checked_and_used_for_the_template_match():
    text = dedent("""\
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: r}
        spec:
          selector:
            matchExpressions:
            - {key: tier, operator: In, values: [cache]}
            - {key: env, operator: NotIn, values: [dev]}
          template:
            metadata: {labels: {tier: cache, env: dev}}
            spec: {containers: [{name: c, image: i}]}
        ---
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: s}
        spec:
          selector:
            matchExpressions:
            - {key: tier, operator: in, values: [cache]}
            - {key: env, operator: Exists, values: [dev]}
            - {key: x, operator: In}
          template:
            metadata: {labels: {tier: cache}}
            spec: {containers: [{name: c, image: i}]}
        ---
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: t}
        spec:
          selector: {}
          template:
            metadata: {labels: {tier: cache}}
            spec: {containers: [{name: c, image: i}]}
        """)
    assert problems(text) == [
        "m.yaml:10: spec.template.metadata.labels: selector does not match template labels: give the "
        "template labels that spec.selector (tier in (cache),env notin (dev)) selects",
        'm.yaml:19: spec.selector.matchExpressions[0].operator: unsupported value "in"; did you mean "In"? '
        '(supported: "In", "NotIn", "Exists", "DoesNotExist")',
        "m.yaml:20: spec.selector.matchExpressions[1].values: must be empty when operator is Exists",
        "m.yaml:21: spec.selector.matchExpressions[2].values: required when operator is In: list the label "
        "values to match",
        "m.yaml:30: spec.selector: empty selector is invalid for a ReplicaSet: add matchLabels that match "
        "the template's labels",
    ]


def test_values_the_api_server_rejects():
    text = dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: My_Web}
        spec:
          replicas: -1
          selector: {matchLabels: {app: w}}
          template:
            metadata: {labels: {app: w}}
            spec:
              restartPolicy: OnFailure
              containers:
              - name: Web
                image: nginx
                imagePullPolicy: always
                ports:
                - {containerPort: 70000, protocol: tcp, name: this-name-is-far-too-long}
              - name: side
                image: busybox
                env:
                - name: IP
                  valueFrom: {fieldRef: {fieldPath: status.podIp}}
                volumeMounts: [{name: dat, mountPath: /d}]
              volumes: [{name: data, emptyDir: {}}]
        """)
    assert problems(text) == [
        'm.yaml:3: metadata.name: invalid name "My_Web": use lower case letters, digits, "-" and ".", '
        "starting and ending with a letter or digit (e.g. my-web)",
        "m.yaml:5: spec.replicas: invalid value -1: must be greater than or equal to 0",
        'm.yaml:10: spec.template.spec.restartPolicy: unsupported value "OnFailure": a Deployment pod '
        'template needs "Always" (remove the field or use a Job-like Pod instead)',
        'm.yaml:12: spec.template.spec.containers[0].name: invalid container name "Web": use at most 63 '
        'lower case letters, digits and "-", starting and ending with a letter or digit (e.g. web)',
        'm.yaml:14: spec.template.spec.containers[0].imagePullPolicy: unsupported value "always"; did you '
        'mean "Always"? (supported: "Always", "IfNotPresent", "Never")',
        "m.yaml:16: spec.template.spec.containers[0].ports[0].containerPort: invalid containerPort 70000: "
        "must be between 1 and 65535, inclusive",
        'm.yaml:16: spec.template.spec.containers[0].ports[0].protocol: unsupported value "tcp"; did you '
        'mean "TCP"? (supported: "TCP", "UDP", "SCTP")',
        'm.yaml:16: spec.template.spec.containers[0].ports[0].name: invalid port name '
        '"this-name-is-far-too-long": use at most 15 lower case letters, digits and "-", with at least '
        "one letter (e.g. http)",
        'm.yaml:21: spec.template.spec.containers[1].env[0].valueFrom.fieldRef.fieldPath: unsupported value '
        '"status.podIp"; did you mean "status.podIP"? (supported: metadata.name, metadata.namespace, '
        "metadata.uid, spec.nodeName, spec.serviceAccountName, status.hostIP, status.hostIPs, status.podIP, "
        "status.podIPs, metadata.labels['KEY'], metadata.annotations['KEY'])",
        'm.yaml:22: spec.template.spec.containers[1].volumeMounts[0].name: no volume named "dat" in the '
        "pod's spec.volumes; did you mean \"data\"? (volumes: data)",
    ]


def test_service_values():
    text = dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: 1st}
        spec:
          ports:
          - {port: 80, nodePort: 30080}
          - {port: 0, targetPort: not_a_name, protocol: HTTP}
          sessionAffinity: None
          sessionAffinityConfig: {clientIP: {timeoutSeconds: 10}}
          externalTrafficPolicy: Local
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: nothing}
        spec: {selector: {app: x}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: ext}
        spec: {type: ExternalName}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: t}
        spec: {type: Nodeport, ports: [{port: 80}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: u}
        spec: {ports: [{port: 80, targetPort: "8080"}]}
        """)
    assert problems(text) == [
        'm.yaml:3: metadata.name: invalid name "1st": use at most 63 lower case letters, digits and "-", '
        "starting with a letter and ending with a letter or digit (e.g. svc-1st)",
        "m.yaml:6: spec.ports[0].name: required when a Service has more than one port: name each port "
        "(e.g. http, https)",
        'm.yaml:6: spec.ports[0].nodePort: may not be set when type is "ClusterIP": use type NodePort or '
        "LoadBalancer, or remove it",
        "m.yaml:7: spec.ports[1].port: invalid port 0: must be between 1 and 65535, inclusive",
        'm.yaml:7: spec.ports[1].protocol: unsupported value "HTTP" (supported: "TCP", "UDP", "SCTP")',
        'm.yaml:7: spec.ports[1].targetPort: invalid port name "not_a_name": use at most 15 lower case '
        'letters, digits and "-", with at least one letter (e.g. http)',
        "m.yaml:7: spec.ports[1].name: required when a Service has more than one port: name each port "
        "(e.g. http, https)",
        'm.yaml:9: spec.sessionAffinityConfig: may not be set when sessionAffinity is "None": set '
        "sessionAffinity: ClientIP or remove it",
        "m.yaml:10: spec.externalTrafficPolicy: may only be set when type is NodePort or LoadBalancer (or "
        "the Service has externalIPs)",
        "m.yaml:15: spec.ports: required field is missing: list the ports the Service exposes, e.g. - port: 80",
        "m.yaml:20: spec.externalName: required for type ExternalName: the DNS name to answer with, e.g. "
        "my.database.example.com",
        'm.yaml:25: spec.type: unsupported value "Nodeport"; did you mean "NodePort"? (supported: '
        '"ClusterIP", "NodePort", "LoadBalancer", "ExternalName")',
        'm.yaml:30: spec.ports[0].targetPort: invalid port name "8080": a quoted number is read as a port '
        "name; remove the quotes to give a port number",
    ]


def test_missing_and_wrong_api_version_and_kind():
    text = dedent("""\
        kind: Deployment
        metadata: {name: a}
        ---
        apiVersion: extensions/v1beta1
        kind: Deployment
        metadata: {name: b}
        ---
        apiVersion: v1
        metadata: {name: c}
        ---
        apiVersion: apps/v1
        kind: deployment
        metadata: {name: d}
        ---
        apiVersion: "apps v1"
        kind: Thing
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: e}
        spec: {containers: [{name: c, image: i}]}
        ---
        - just
        - a list
        """)
    assert problems(text) == [
        'm.yaml:1: apiVersion: required field is missing: add "apiVersion: apps/v1"',
        'm.yaml:4: apiVersion: Deployment is not served as "extensions/v1beta1": use "apiVersion: apps/v1"',
        "m.yaml:8: kind: required field is missing: every object needs apiVersion and kind (e.g. "
        "apiVersion: v1, kind: Pod)",
        'm.yaml:12: kind: unknown kind "deployment" in apps/v1; did you mean "Deployment"?',
        'm.yaml:15: apiVersion: invalid apiVersion "apps v1": write GROUP/VERSION (e.g. apps/v1) or VERSION '
        "for the core group (v1)",
        "m.yaml:23: expected a Kubernetes object (a map with apiVersion and kind), got a list",
    ]


def test_kinds_netlab_does_not_model_are_skipped_with_a_warning():
    text = dedent("""\
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: settings}
        automountServiceAccountToken: false
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: kind-worker}
        ---
        apiVersion: cert-manager.io/v1
        kind: Certificate
        metadata: {name: example}
        spec: {whatever: [1, 2]}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny}
        spec: {podSelector: {}}
        """)
    manifests = loads(text, "m.yaml")
    assert manifests.objects == []
    assert manifests.warnings == [
        'm.yaml:1: skipping ServiceAccount "settings": netlab does not model ServiceAccounts',
        'm.yaml:6: skipping Node "kind-worker": netlab does not model Nodes: the lab\'s nodes come from its '
        "Cluster document (spec.nodes)",
        'm.yaml:10: skipping Certificate "example": netlab does not model Certificates',
        'm.yaml:15: skipping NetworkPolicy "deny": netlab does not model NetworkPolicies',
    ]


def test_skipped_kinds_in_the_schema_are_still_validated():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndatta: {a: b}\n"
    assert problems(text) == ['m.yaml:4: datta: unknown field "datta"; did you mean "data"?']


def test_all_errors_of_all_documents_and_files_are_collected(tmp_path):
    from netlab.manifest import load
    (tmp_path / "a.yaml").write_text(DEPLOYMENT)
    (tmp_path / "b.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 99999}]\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n"
    )
    with pytest.raises(ManifestError) as info:
        load(tmp_path)
    a, b = str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")
    assert [(p.file, p.line, p.path) for p in info.value.errors] == [
        (a, 18, "spec.template.spec.containers[0].imagePullPolicyy"),
        (b, 5, "spec.ports[0].port"),
        (b, 10, "spec.containers[0].image"),
    ]


def test_the_same_object_twice_is_kept_twice_in_order_as_kubectl_applies_both():
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p%s}\nspec: {containers: [{name: c, image: %s}]}\n"
    text = (pod % ("", "a") + "---\n" + pod % (", namespace: default", "b") + "---\n" + pod % (", namespace: other", "c"))
    loaded = loads(text, "m.yaml")
    assert [(o.namespace, o.raw["spec"]["containers"][0]["image"]) for o in loaded.objects] == [
        ("default", "a"), ("default", "b"), ("other", "c")]
    assert [(o.namespace, o.spec.containers[0].image) for o in loaded.pods] == [("default", "b"), ("other", "c")]


def test_duplicate_yaml_keys_are_strict_errors():
    text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n"
    assert problems(text) == [
        'm.yaml:5: metadata.name: duplicate field "name" (also at line 4): remove one of them'
    ]
    manifests = loads(text, "m.yaml", validate="warn")
    assert manifests.namespaces[0].name == "b"  # the last one wins, as in the API server's decoder
    assert len(manifests.warnings) == 1


def test_namespace_given_like_kubectl_n():
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dev}\nspec: {containers: [{name: c, image: i}]}\n"
    assert loads(text, namespace="dev").pods[0].namespace == "dev"
    assert problems(text, namespace="prod") == [
        'm.yaml:3: metadata.namespace: the object\'s namespace "dev" does not match the namespace "prod" '
        "given on the command line: drop one of them"
    ]
    bare = text.replace(", namespace: dev", "")
    assert loads(bare, namespace="prod").pods[0].namespace == "prod"
    assert loads(bare).pods[0].namespace == "default"


def test_label_keys_and_values():
    text = dedent("""\
        apiVersion: v1
        kind: Namespace
        metadata:
          name: n
          labels:
            app.kubernetes.io/name: ok
            "-bad": x
            bad/: x
            good: "has space"
        """)
    assert problems(text) == [
        "m.yaml:7: metadata.labels[-bad]: invalid label key \"-bad\": the name part must be at most 63 "
        "letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
        "m.yaml:8: metadata.labels[bad/]: invalid label key \"bad/\": the name part must be at most 63 "
        "letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
        'm.yaml:9: metadata.labels[good]: invalid label value "has space": use at most 63 letters, digits, '
        '"-", "_" or ".", starting and ending with a letter or digit',
    ]


def test_replicas_are_an_int32_and_a_selector_of_the_wrong_shape_is_one_error_not_a_crash():
    text = dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2147483648
          selector: {matchLabels: [app, web]}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: nginx}]
        """)
    with pytest.raises(ManifestError) as info:
        loads(text, "m.yaml")
    assert str(info.value).splitlines() == [
        "m.yaml:5: spec.replicas: invalid value 2147483648: must be no more than 2147483647 (an int32)",
        'm.yaml:6: spec.selector.matchLabels: expected a map, got a list: remove the "- " in front of the fields']


def test_a_huge_value_is_shown_shortened_in_its_error():
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: " + "a" * 100000 + "}\nspec:\n  containers: [{name: c, image: nginx}]\n"
    with pytest.raises(ManifestError) as info:
        loads(text, "m.yaml")
    (line,) = str(info.value).splitlines()
    assert line.startswith('m.yaml:3: metadata.name: invalid name "' + "a" * 40 + "...") and len(line) < 400
    assert "(100000 characters)" in line


def service(spec: str, name: str = "s", annotations: str = "") -> str:
    meta = f"{{name: {name}{', annotations: ' + annotations if annotations else ''}}}"
    return f"apiVersion: v1\nkind: Service\nmetadata: {meta}\nspec: {spec}\n"


def test_service_cluster_ips_as_the_api_server_checks_them():
    assert problems(service("{type: NodePort, clusterIP: None, ports: [{port: 80}]}")) == [
        "m.yaml:4: spec.clusterIP: invalid value \"None\": may not be set to 'None' for NodePort services "
        "(a headless Service has no virtual IP to forward node ports to)"]
    assert problems(service("{type: LoadBalancer, clusterIPs: [None], ports: [{port: 80}]}")) == [
        "m.yaml:4: spec.clusterIPs[0]: invalid value \"None\": may not be set to 'None' for LoadBalancer "
        "services (a headless Service has no virtual IP to forward node ports to)"]
    assert problems(service("{clusterIP: 10.96.0.20, clusterIPs: [10.96.0.21], ports: [{port: 80}]}")) == [
        'm.yaml:4: spec.clusterIPs[0]: invalid value "10.96.0.21": must match spec.clusterIP ("10.96.0.20"); '
        "write the same address or leave one out"]
    assert problems(service("{clusterIPs: [10.96.0.20, 10.96.0.21], ports: [{port: 80}]}")) == [
        'm.yaml:4: spec.clusterIPs[1]: invalid value "10.96.0.21": may specify no more than one IP for each '
        "IP family"]
    assert problems(service("{type: ExternalName, externalName: db.example.com, clusterIP: 10.96.0.20}")) == [
        "m.yaml:4: spec.clusterIP: may not be set for ExternalName services: an ExternalName Service is only "
        "a DNS name; remove it"]
    assert problems(service("{clusterIP: None, ports: [{port: 80}]}")) == []          # headless ClusterIP


def test_load_balancer_source_ranges_must_be_cidrs_on_a_load_balancer():
    assert problems(service("{type: LoadBalancer, ports: [{port: 80}], "
                            "loadBalancerSourceRanges: [10.0.0.0/8, 59.100.192.6, bogus]}")) == [
        'm.yaml:4: spec.loadBalancerSourceRanges[1]: invalid value "59.100.192.6": must be a list of IP '
        "ranges, for example 10.240.0.0/24,10.250.0.0/24 (a single address is written 1.2.3.4/32)",
        'm.yaml:4: spec.loadBalancerSourceRanges[2]: invalid value "bogus": must be a list of IP ranges, '
        "for example 10.240.0.0/24,10.250.0.0/24 (a single address is written 1.2.3.4/32)"]
    assert problems(service("{type: NodePort, ports: [{port: 80}], loadBalancerSourceRanges: [10.0.0.0/8]}")) == [
        "m.yaml:4: spec.loadBalancerSourceRanges: may only be used when type is LoadBalancer"]
    annotated = service("{type: LoadBalancer, ports: [{port: 80}]}",
                        annotations="{service.beta.kubernetes.io/load-balancer-source-ranges: '10.0.0.0/8, x'}")
    assert problems(annotated) == [
        'm.yaml:3: metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: invalid '
        'value "x": must be a list of IP ranges, for example 10.240.0.0/24,10.250.0.0/24 (a single address '
        "is written 1.2.3.4/32)"]


def test_target_port_zero_or_absent_defaults_to_the_port_as_the_api_server_does():
    from netlab.cluster.services import apply_defaults
    loaded = loads(service("{ports: [{name: a, port: 80, targetPort: 0}, {name: b, port: 81}, "
                           "{name: c, port: 82, targetPort: ''}]}"), "m.yaml")
    defaulted = apply_defaults(loaded.services[0].raw)
    assert [p["targetPort"] for p in defaulted["spec"]["ports"]] == [80, 81, 82]


def test_annotations_over_256_kib_in_total_are_refused():
    big = "x" * (128 * 1024)
    text = f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {{a: {big}, b: {big}}}\n" \
           "spec: {containers: [{name: c, image: nginx}]}\n"
    (line,) = problems(text)
    assert line == ("m.yaml:5: metadata.annotations: too long: 262146 bytes of annotations; may not be more "
                    "than 262144 bytes in total (keep large data in a ConfigMap)")


def test_every_int32_field_is_bounded_and_numbers_beyond_int64_are_refused_shortened():
    pod = dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          terminationGracePeriodSeconds: 123456789012345678901234567890
          containers:
          - name: c
            image: nginx
            readinessProbe: {tcpSocket: {port: 80}, periodSeconds: 4294967296}
        """)
    assert problems(pod) == [
        "m.yaml:5: spec.terminationGracePeriodSeconds: invalid value 1234567890...67890 (30 digits): out of "
        "range for an integer field (an int64 at most)",
        "m.yaml:9: spec.containers[0].readinessProbe.periodSeconds: invalid value 4294967296: must be no more "
        "than 2147483647 (an int32)"]


def test_probes_need_exactly_one_handler_and_sane_thresholds():
    pod = dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: c
            image: nginx
            readinessProbe: {periodSeconds: 5}
            livenessProbe:
              httpGet: {path: /}
              tcpSocket: {port: 80}
              successThreshold: 2
              failureThreshold: -1
        """)
    assert problems(pod) == [
        "m.yaml:8: spec.containers[0].readinessProbe: must specify a handler type: one of exec, httpGet, "
        "tcpSocket or grpc",
        "m.yaml:10: spec.containers[0].livenessProbe.httpGet.port: required field is missing: the port to "
        "probe, a number or a container port's name",
        "m.yaml:11: spec.containers[0].livenessProbe.tcpSocket: may not specify more than 1 handler type "
        "(also httpGet): keep one of them",
        "m.yaml:12: spec.containers[0].livenessProbe.successThreshold: invalid value 2: must be 1 for a "
        "livenessProbe",
        "m.yaml:13: spec.containers[0].livenessProbe.failureThreshold: invalid value -1: must be greater than "
        "or equal to 0",
    ]
