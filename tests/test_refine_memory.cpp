// The refinement memory: what counts as a prompt extending the previous one, and the bounded
// least-recently-used store.
#include <gtest/gtest.h>

#include "server/refine_memory.hpp"

namespace {

using sam::Prompt;
using sam::server::extends;
using sam::server::RefineMemory;

Prompt points(std::initializer_list<sam::PromptPoint> p) {
    Prompt out;
    out.points = p;
    return out;
}

sam::Tensor logits(float value) {
    sam::Tensor t = sam::Tensor::empty({1, 256, 256});
    std::fill_n(t.data, t.numel(), value);
    return t;
}

TEST(RefineMemory, ExtensionRules) {
    const Prompt one = points({{10, 10, 1}});
    EXPECT_TRUE(extends(points({{10, 10, 1}, {50, 50, 0}}), one));
    EXPECT_TRUE(extends(points({{50, 50, 0}, {10, 10, 1}}), one));          // any order
    EXPECT_TRUE(extends(points({{10.4f, 9.6f, 1}, {50, 50, 1}}), one));     // within half a pixel
    EXPECT_FALSE(extends(points({{10.6f, 10, 1}, {50, 50, 1}}), one));      // moved
    EXPECT_FALSE(extends(points({{10, 10, 0}, {50, 50, 1}}), one));         // sign changed
    EXPECT_FALSE(extends(one, one));                                        // nothing added
    EXPECT_FALSE(extends(points({{50, 50, 1}, {60, 60, 1}}), one));         // the old point gone
    const Prompt two = points({{10, 10, 1}, {10, 10, 1}});
    EXPECT_FALSE(extends(points({{10, 10, 1}, {70, 70, 1}}), two));         // a duplicate needs two matches
    EXPECT_TRUE(extends(points({{10, 10, 1}, {70, 70, 1}, {10, 10, 1}}), two));

    Prompt box = points({});
    box.box = sam::PromptBox{1, 2, 30, 40};
    Prompt box_click = points({{5, 5, 1}});
    box_click.box = box.box;
    EXPECT_TRUE(extends(box_click, box));
    EXPECT_FALSE(extends(points({{5, 5, 1}}), box));  // box dropped
    box_click.box->x1 = 31;
    EXPECT_FALSE(extends(box_click, box));             // box changed
    Prompt click_then_box = one;
    click_then_box.points.push_back({20, 20, 1});
    click_then_box.box = sam::PromptBox{0, 0, 5, 5};
    EXPECT_FALSE(extends(click_then_box, one));        // box added: another prompt
}

TEST(RefineMemory, RemembersPerKeyAndForgetsTheLeastRecentlyUsed) {
    RefineMemory memory(2);
    const Prompt a = points({{10, 10, 1}}), ab = points({{10, 10, 1}, {20, 20, 1}});
    EXPECT_FALSE(memory.previous_mask("t1", ab).defined());
    memory.remember("t1", a, logits(1));
    memory.remember("t2", a, logits(2));
    ASSERT_TRUE(memory.previous_mask("t1", ab).defined());
    EXPECT_EQ(memory.previous_mask("t1", ab).data[0], 1);
    EXPECT_FALSE(memory.previous_mask("t1", a).defined());  // not an extension
    memory.remember("t3", a, logits(3));                     // t2 was used least recently
    EXPECT_EQ(memory.size(), 2u);
    EXPECT_FALSE(memory.previous_mask("t2", ab).defined());
    EXPECT_EQ(memory.previous_mask("t3", ab).data[0], 3);
    // a newer answer replaces the older one; an undefined one forgets
    memory.remember("t1", ab, logits(4));
    EXPECT_EQ(memory.previous_mask("t1", points({{10, 10, 1}, {20, 20, 1}, {30, 30, 0}})).data[0], 4);
    memory.remember("t1", ab, sam::Tensor{});
    EXPECT_FALSE(memory.previous_mask("t1", points({{10, 10, 1}, {20, 20, 1}, {30, 30, 0}})).defined());
    EXPECT_EQ(memory.size(), 1u);
    // the prompt's own mask input is not what is remembered
    Prompt with_input = a;
    with_input.mask_input = logits(9);
    memory.remember("t4", with_input, logits(5));
    EXPECT_EQ(memory.previous_mask("t4", ab).data[0], 5);
}

TEST(RefineMemory, CapacityZeroRemembersNothing) {
    RefineMemory memory(0);
    memory.remember("t1", points({{1, 1, 1}}), logits(1));
    EXPECT_EQ(memory.size(), 0u);
    EXPECT_FALSE(memory.previous_mask("t1", points({{1, 1, 1}, {2, 2, 1}})).defined());
}

}  // namespace
