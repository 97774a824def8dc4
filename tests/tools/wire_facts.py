#!/usr/bin/python3
"""Wire facts of a set of .proto files, and their check against a broker release's recorded facts.

Only what travels on the wire is a fact: the method path (/package.Service/Method), whether each
side streams, and for the request and response messages, recursively, each field's number, wire
type (the protobuf scalar or message/enum type), label (repeated, proto3 optional, member of a
oneof) and, for enums, the set of numbers. Message, field and enum *names* never travel, so two
.proto sets that differ only in names are the same on the wire and compare equal here.

usage:
  wire_facts.py dump PROTO_ROOT...                      facts of the .proto files under the roots (JSON)
  wire_facts.py check FACTS_JSON PROTO_ROOT             exit 0 when PROTO_ROOT matches FACTS_JSON
  wire_facts.py self-test FACTS_JSON PROTO_ROOT         check, then check mutated copies (must fail)

The facts file (tests/data/danube-wire-v0.15.1.json) has
  "methods":  {path: facts} of the broker release;
  "legacy":   {path: facts} of methods older brokers had (AuthService) and we still speak;
  "optional": paths of "methods" our proto/ may leave out (services clients do not use).
Every method of our proto/ must be in "methods" or "legacy" with equal facts; every method of
"methods" not listed in "optional" must be in our proto/. docs/testing.md says how to refresh it.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2

FieldProto = descriptor_pb2.FieldDescriptorProto
TYPE_NAMES = {number: name[len('TYPE_'):].lower() for name, number in FieldProto.Type.items()}


def proto_files(root):
    found = []
    for directory, _, names in os.walk(root):
        found += [os.path.relpath(os.path.join(directory, n), root) for n in names if n.endswith('.proto')]
    return sorted(found)


def descriptor_set(roots):
    """Runs protoc over every .proto under `roots` and returns the parsed FileDescriptorSet."""
    files = sorted({f for root in roots for f in proto_files(root)})
    if not files:
        raise SystemExit('wire facts: no .proto files under ' + ', '.join(roots))
    protoc = os.environ.get('PROTOC', 'protoc')
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, 'set.pb')
        command = [protoc, '--include_imports', '--descriptor_set_out=' + out]
        command += ['--proto_path=' + r for r in roots] + files
        subprocess.run(command, check=True)
        parsed = descriptor_pb2.FileDescriptorSet()
        with open(out, 'rb') as stream:
            parsed.ParseFromString(stream.read())
    return parsed


class Index:
    """Messages and enums by fully qualified name ('.pkg.Outer.Inner'), methods by path."""

    def __init__(self, files):
        self.messages, self.enums, self.methods = {}, {}, {}
        for f in files.file:
            scope = '.' + f.package if f.package else ''
            for message in f.message_type:
                self._add_message(scope, message)
            for enum in f.enum_type:
                self.enums[scope + '.' + enum.name] = enum
            prefix = f.package + '.' if f.package else ''
            for service in f.service:
                for method in service.method:
                    self.methods['/%s%s/%s' % (prefix, service.name, method.name)] = method

    def _add_message(self, scope, message):
        name = scope + '.' + message.name
        self.messages[name] = message
        for nested in message.nested_type:
            self._add_message(name, nested)
        for enum in message.enum_type:
            self.enums[name + '.' + enum.name] = enum

    def shape(self, type_name, open_messages=()):
        if type_name in self.enums:
            return {'enum': sorted(v.number for v in self.enums[type_name].value)}
        if type_name in open_messages:
            return {'recursive': True}
        fields = {}
        for field in self.messages[type_name].field:
            fact = {'type': TYPE_NAMES[field.type]}
            if field.label == FieldProto.LABEL_REPEATED:
                fact['repeated'] = True
            if field.proto3_optional:
                fact['optional'] = True
            elif field.HasField('oneof_index'):
                fact['oneof'] = True
            if field.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_ENUM):
                fact['of'] = self.shape(field.type_name, open_messages + (type_name,))
            fields[str(field.number)] = fact
        return {'fields': fields}

    def facts(self):
        return {
            path: {
                'client_streaming': method.client_streaming,
                'server_streaming': method.server_streaming,
                'request': self.shape(method.input_type),
                'response': self.shape(method.output_type),
            }
            for path, method in sorted(self.methods.items())
        }


def facts_of(roots):
    return Index(descriptor_set(roots)).facts()


def differences(expected, actual, where):
    """Human-readable differences between two fact trees (empty when equal)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in actual:
                found.append('%s: %s is missing (broker: %s)' % (where, key, json.dumps(expected[key], sort_keys=True)))
            elif key not in expected:
                found.append('%s: %s is unknown to the broker (ours: %s)' % (where, key, json.dumps(actual[key], sort_keys=True)))
            else:
                found += differences(expected[key], actual[key], where + '/' + str(key))
        return found
    if expected != actual:
        return ['%s: broker has %s, ours %s' % (where, json.dumps(expected), json.dumps(actual))]
    return []


def check(facts_file, proto_root, quiet=False):
    with open(facts_file) as stream:
        recorded = json.load(stream)
    ours = facts_of([proto_root])
    known = dict(recorded['methods'])
    known.update(recorded.get('legacy', {}))
    problems = []
    for path in sorted(recorded['methods']):
        if path not in ours and path not in recorded.get('optional', []):
            problems.append('%s: the broker has it, proto/ does not' % path)
    for path, facts in sorted(ours.items()):
        if path not in known:
            problems.append('%s: proto/ has it, the broker does not' % path)
        else:
            problems += differences(known[path], facts, path)
    if not quiet:
        for problem in problems:
            print('wire facts: ' + problem)
        matched = sum(1 for p in ours if p in known and not differences(known[p], ours[p], p))
        print('wire facts: %d of %d methods of %s match %s (%s), %d problems' %
              (matched, len(ours), proto_root, os.path.basename(facts_file), recorded.get('broker', '?'), len(problems)))
    return not problems


# Each mutation rewrites the first match of `pattern` in one of the copied files; the check must
# then fail. They cover a renumbered field, a changed scalar type, a scalar turned repeated, a
# changed enum number, a lost streaming flag and a renamed method.
MUTATIONS = [
    ('a field number', r'(uint64 request_id = )1;', r'\g<1>11;'),
    ('a field type', r'uint64 request_id = 1;', 'uint32 request_id = 1;'),
    ('a signed type', r'uint64 request_id = 1;', 'int64 request_id = 1;'),
    ('a label', r'string topic_name = (\d+);', r'repeated string topic_name = \1;'),
    ('an enum number', r'Reliable = 1;', 'Reliable = 2;'),
    ('server streaming', r'returns \(stream ', 'returns ('),
    ('a method name', r'rpc TopicLookup\(', 'rpc TopicLookUp('),
]


def self_test(facts_file, proto_root):
    if not check(facts_file, proto_root, quiet=True):
        print('wire facts self-test: the unmutated proto/ does not match; run `check` for details')
        return False
    ok = True
    for what, pattern, replacement in MUTATIONS:
        with tempfile.TemporaryDirectory() as scratch:
            copy = os.path.join(scratch, 'proto')
            shutil.copytree(proto_root, copy)
            mutated = None
            for relative in proto_files(copy):
                path = os.path.join(copy, relative)
                with open(path) as stream:
                    text = stream.read()
                changed, count = re.subn(pattern, replacement, text, count=1)
                if count:
                    with open(path, 'w') as stream:
                        stream.write(changed)
                    mutated = relative
                    break
            if mutated is None:
                print('wire facts self-test: mutation "%s" found nothing to change' % what)
                ok = False
            elif check(facts_file, copy, quiet=True):
                print('wire facts self-test: %s changed in %s, and the check still passed' % (what, mutated))
                ok = False
            else:
                print('wire facts self-test: %s changed in %s: detected' % (what, mutated))
    return ok


def main(argv):
    if len(argv) >= 2 and argv[0] == 'dump':
        json.dump(facts_of(argv[1:]), sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    if len(argv) == 3 and argv[0] == 'check':
        return 0 if check(argv[1], argv[2]) else 1
    if len(argv) == 3 and argv[0] == 'self-test':
        return 0 if self_test(argv[1], argv[2]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
