# Spectrum apps for the edge. One block per app; field names follow the
# provider's Spectrum app object. Check before a PR:
#   salt-call --local spectrum_acl.check_apps
spectrum:
  account_id: crossbow            # default for apps that name none
  apps:
    # An internal team using provider addresses it holds a delegation for.
    crossbow-ssh:
      protocol: tcp/22
      dns: {type: CNAME, name: ssh.crossbow.example.com}
      edge_ips: {type: static, ips: [104.16.5.10]}
      origin_direct:
        - tcp://104.16.5.20:22
        - tcp://[2606:4700::6810:5:14]:22
      proxy_protocol: "off"
      tls: "off"
      traffic_type: direct
      ip_firewall: true

    # A BYOIP customer pointing at its own announced space.
    acme-game:
      account_id: acme
      protocol: udp/27015-27030
      dns: {type: ADDRESS, name: play.acme.example}
      edge_ips: {type: static, ips: [45.91.88.1]}
      origin_direct: ["udp://45.91.89.40:27015-27030"]

    # An ordinary external origin, by address...
    partner-db:
      account_id: partner
      protocol: tcp/5432
      dns: {type: CNAME, name: db.partner.example}
      edge_ips: {type: dynamic, connectivity: all}
      origin_direct: ["tcp://93.184.215.14:5432"]
      tls: full

    # ...and by name (origin_dns is resolved, A and AAAA, when the guard runs).
    partner-api:
      account_id: partner
      protocol: tcp/443
      dns: {type: CNAME, name: api.partner.example}
      origin_dns: {name: origin.partner.example, ttl: 600}
      origin_port: 443
      proxy_protocol: v2
      traffic_type: direct
