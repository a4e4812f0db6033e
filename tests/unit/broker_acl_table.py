# Regenerates the expected bits of broker_acl_test.cpp: runs python-x2gobroker 0.0.4.3's own check_profile_acls over the grid the
# unit test enumerates; prints the results as a bit string.
import sys, types
# Usage: python3 broker_acl_table.py DIR, where DIR holds x2gobroker/ and netaddr/
# (apt-get download python3-x2gobroker python3-netaddr; dpkg-deb -x each;
# DIR = <root>/usr/lib/python3/dist-packages).
ROOT = sys.argv[1]
sys.path.insert(0, ROOT)
import copy, netaddr
src = open(ROOT + '/x2gobroker/brokers/base_broker.py').read()
start = src.index('    def check_profile_acls'); end = src.index('    def test_connection')
code = 'import copy, netaddr\nclass B:\n' + src[start:end] + '''
    def get_acl_defaults(self):
        return {'acl-users-allow': [], 'acl-users-deny': [], 'acl-users-order': '', 'acl-groups-allow': [], 'acl-groups-deny': [], 'acl-groups-order': '', 'acl-clients-allow': [], 'acl-clients-deny': [], 'acl-clients-order': '', 'acl-any-order': 'deny-allow'}
    def get_user_groups(self, u, primary_groups=False): return ['staff']
    def get_global_value(self, k): return True
'''
ns = {'logger_error': types.SimpleNamespace(error=print)}
exec(code, ns)
b = ns['B'](); b._client_address = netaddr.IPAddress('10.1.2.3')
users = [([], []), (['alice'], []), ([], ['alice']), (['alice'], ['alice']), (['ALL'], []), ([], ['ALL']), (['bob'], []), (['alice'], ['ALL'])]
groups = [([], []), (['staff'], []), ([], ['staff']), (['staff'], ['staff']), (['ALL'], []), ([], ['ALL']), (['other'], []), (['staff'], ['ALL'])]
orders = ['', 'allow-deny']
out = ''
for ua, ud in users:
  for uo in orders:
    for ga, gd in groups:
      for go in orders:
        acls = {'acl-users-allow': ua, 'acl-users-deny': ud, 'acl-users-order': uo, 'acl-groups-allow': ga, 'acl-groups-deny': gd, 'acl-groups-order': go}
        out += '1' if b.check_profile_acls('alice', acls) else '0'
print(out)
clients = [([], []), (['ALL'], []), ([], ['ALL']), (['10.0.0.0/8'], []), (['10.0.0.0/8'], ['10.1.0.0/16']), (['10.1.0.0/16'], ['10.0.0.0/8']), (['192.168.0.0/16'], [])]
out = ''
for ca, cd in clients:
  for co in ['', 'allow-deny', 'deny-allow']:
    for users_rule in [([], []), (['bob'], [])]:
      acls = {'acl-clients-allow': ca, 'acl-clients-deny': cd, 'acl-clients-order': co, 'acl-users-allow': users_rule[0]}
      out += '1' if b.check_profile_acls('alice', acls) else '0'
print(out)
