# A deliberately bad pillar: every app here shows one kind of denial.
#   make demo PILLAR=pillar-bad      -> exits non-zero, the old config stays as it was
spectrum:
  account_id: crossbow
  apps:
    # Managed, not delegated: 104.16.9.0/24 is provider space crossbow holds no delegation for.
    not-delegated:
      protocol: tcp/22
      dns: {type: CNAME, name: a.crossbow.example.com}
      origin_direct: ["tcp://104.16.9.1:22"]

    # Binding, as a two-app cycle: each origin is the other app's edge IP.
    loop-a:
      protocol: tcp/443
      dns: {type: CNAME, name: loop-a.crossbow.example.com}
      edge_ips: {type: static, ips: [104.16.5.40]}
      origin_direct: ["tcp://104.16.5.41:443"]
    loop-b:
      protocol: tcp/443
      dns: {type: CNAME, name: loop-b.crossbow.example.com}
      edge_ips: {type: static, ips: [104.16.5.41]}
      origin_direct: ["tcp://104.16.5.40:443"]

    # Binding, BYOIP corner case: the owner points at its own edge IP.
    acme-self-loop:
      account_id: acme
      protocol: tcp/25565
      dns: {type: ADDRESS, name: mc.acme.example}
      origin_direct: ["tcp://45.91.88.1:25565"]

    # Reserved: private space is not on the public Internet.
    private-origin:
      protocol: tcp/3306
      dns: {type: CNAME, name: db.crossbow.example.com}
      origin_direct: ["tcp://10.20.0.5:3306"]

    # Bypass spellings: loopback written in hex, and loopback inside an IPv4-mapped IPv6 address.
    hex-loopback:
      protocol: tcp/8080
      dns: {type: CNAME, name: hex.crossbow.example.com}
      origin_direct: ["tcp://0x7f.0.0.1:8080"]
    mapped-loopback:
      protocol: tcp/8080
      dns: {type: CNAME, name: mapped.crossbow.example.com}
      origin_direct: ["tcp://[::ffff:127.0.0.1]:8080"]

    # A hostname origin that resolves to loopback.
    localhost-origin:
      protocol: tcp/80
      dns: {type: CNAME, name: local.crossbow.example.com}
      origin_dns: {name: localhost}
      origin_port: 80

    # A bad shape: both origin kinds, and an unquoted off that YAML reads as false.
    bad-shape:
      protocol: tcp/22
      dns: {type: CNAME, name: shape.crossbow.example.com}
      origin_direct: ["tcp://104.16.5.20:22"]
      origin_dns: {name: origin.partner.example}
      origin_port: 22
      tls: off

    # A self-declared account: claiming the provider's account would give the owner's
    # permission for its space. Only accounts the minion config lists may be named.
    provider-claim:
      account_id: provider
      protocol: tcp/22
      dns: {type: CNAME, name: claim.crossbow.example.com}
      origin_direct: ["tcp://104.16.9.2:22"]
