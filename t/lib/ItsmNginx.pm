package ItsmNginx;

# The nginx the test scaffold runs (its pid file under the server root):
# what blocks that reload it or kill its workers need.
#
#   master_pid()        the master's pid
#   worker_pids()       its workers' pids
#   children($pid)      the pids of $pid's children, from /proc
#   reload()            a HUP, and a second for the new workers to start

use strict;
use warnings;

sub master_pid {
    my $file = Test::Nginx::Util::server_root() . "/logs/nginx.pid";
    open my $fh, '<', $file or die "$file: $!\n";
    chomp(my $pid = <$fh>);
    return $pid;
}

sub children {
    my ($parent) = @_;
    my @pids;
    for my $stat (glob "/proc/[0-9]*/stat") {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S (\d+)/ or next;
        push @pids, $pid if $ppid == $parent;
    }
    return @pids;
}

sub worker_pids { children(master_pid()) }

sub reload {
    kill 'HUP', master_pid();
    select(undef, undef, undef, 1);
}

1;
